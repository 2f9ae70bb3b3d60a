"""Regenerate athena/data/samples/: small market data made by the project's own tools from the
simulator's synthetic market (NOT real OKX data), to try the loop download/record -> backtest.

- samples/recorded/: `athena record` on the sim's public WebSocket for BTC-USDT-SWAP (books with
  checksums, trades, mark-price, funding-rate), `--seconds` long;
- samples/download/: `athena download` from the sim's history endpoints, with the sim's clock
  standing at 2026-12-01T08:10Z over a seeded history: candles, trades, mark-price candles and
  funding for 07:55-08:10 (the 08:00 settlement in it): the same rows on every run.

    .venv/bin/python -m athena.data.make_samples [--seconds 30]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from athena.marketdata import download, record
from athena.sim.server import SimServer

HERE = Path(__file__).resolve().parent / "samples"
CLOCK_MS = 1_796_112_600_000  # 2026-12-01T08:10:00Z


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=30.0, help="how long to record")
    p.add_argument("--out", type=Path, default=HERE)
    args = p.parse_args(argv)

    rec_dir, dl_dir = args.out / "recorded", args.out / "download"
    for d in (rec_dir, dl_dir):
        shutil.rmtree(d, ignore_errors=True)

    with SimServer(tick_interval_ms=250, funding_push_s=10.0) as sim:
        rc = record.main(
            [
                "--url",
                sim.ws_url("public"),
                "--instIds",
                "BTC-USDT-SWAP",
                "--channels",
                "books,trades,mark-price,funding-rate",
                "--out",
                str(rec_dir),
                "--duration",
                str(args.seconds),
            ]
        )
    (rec_dir / record.STATUS_FILE).unlink(missing_ok=True)  # a live recorder's heartbeat, not data
    if rc:
        return rc
    with SimServer(tick_interval_ms=0, clock=lambda: CLOCK_MS, history_backfill_s=900) as sim:
        return download.main(
            [
                "--url",
                sim.url,
                "--instIds",
                "BTC-USDT-SWAP",
                "--start",
                "2026-12-01T07:55",
                "--out",
                str(dl_dir),
            ]
        )


if __name__ == "__main__":
    raise SystemExit(main())
