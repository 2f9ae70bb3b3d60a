"""Regenerate btc_sample.jsonl: the seeded synthetic market in OKX public push format (books5 + trades).

.venv/bin/python -m athena.data.make_sample [--seed 42] [--duration 120]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from athena.backtest.synthetic import synthetic_pushes

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--duration", type=int, default=120)
    p.add_argument("--out", type=Path, default=HERE / "btc_sample.jsonl")
    args = p.parse_args(argv)
    with args.out.open("w") as f:
        for msg in synthetic_pushes(args.seed, args.duration, ("BTC-USDT-SWAP",)):
            f.write(json.dumps(msg, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
