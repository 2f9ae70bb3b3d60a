"""Tick -> decision latency of ScalperV1 on the real stack (OMS + risk over a private Redis).

Replays a seeded synthetic market through the backtest engine and times the strategies' handling of
each tick (bus dispatch + runner + ScalperV1.on_tick, and whatever it decides to send). Ticks that
decide nothing are pure strategy code (no I/O); ticks that place or cancel an order include
PreTradeCheck and OrderManager.submit (Redis round trips), reported separately. Run on one
instrument and on ten (one ScalperV1 trading all ten).

    .venv/bin/python -m bench.bench_strategy [--seed 7] [--duration 300]

Prints p50/p99 in microseconds and writes var/bench/strategy.json. Never asserts timing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# five more instruments in the shape of the sim's own, so ten can be traded at once (bench only)
EXTRA = (
    # instId, like, start px, tickSz
    ("ADA-USDT-SWAP", "XRP-USDT-SWAP", "0.9000", "0.0001"),
    ("LTC-USDT-SWAP", "SOL-USDT-SWAP", "90.00", "0.01"),
    ("AVAX-USDT-SWAP", "SOL-USDT-SWAP", "35.00", "0.01"),
    ("LINK-USDT-SWAP", "SOL-USDT-SWAP", "20.00", "0.01"),
    ("BCH-USDT-SWAP", "ETH-USDT-SWAP", "450.00", "0.01"),
)


def ten_instruments() -> list[Any]:
    from athena.domain.instrument import Instrument
    from athena.sim.instruments import SimInstrument, default_instruments

    sims = default_instruments()
    by_id = {si.instId: si for si in sims}
    for n, (inst_id, like, px, tick) in enumerate(EXTRA):
        base = by_id[like]
        fam = inst_id.rsplit("-", 1)[0]
        row = {
            **base.row,
            "instId": inst_id,
            "instFamily": fam,
            "uly": fam,
            "ctValCcy": inst_id.split("-")[0],
            "instIdCode": 20_000 + n,
            "tickSz": tick,
        }
        sims.append(
            SimInstrument(
                Instrument.from_okx(row), row, Decimal(px), base.mmr_rate, base.vol_ticks, base.depth_sz
            )
        )
    return sims


def pct(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] / 1000  # ns -> µs


def figures(ns: list[int]) -> dict[str, float | int]:
    return {
        "count": len(ns),
        "p50_us": round(pct(ns, 0.50), 2),
        "p99_us": round(pct(ns, 0.99), 2),
        "p999_us": round(pct(ns, 0.999), 2),
        "max_us": round(max(ns, default=0) / 1000, 2),
    }


def run(client: Any, sims: list[Any], inst_ids: tuple[str, ...], seed: int, duration: int) -> dict[str, Any]:
    from athena.backtest.engine import run_backtest
    from athena.backtest.feed import events_from_push
    from athena.backtest.synthetic import synthetic_pushes
    from athena.config import StrategySettings

    events = [e for m in synthetic_pushes(seed, duration, inst_ids, sims=sims) for e in events_from_push(m)]
    strategies = [
        StrategySettings(name="bench", cls="ScalperV1", instIds=list(inst_ids), allocation=Decimal(1))
    ]
    # warm-up (imports, Lua script loading), then the measured run on a clean namespace
    run_backtest(events[:2000], strategies, client, sims=sims)
    client.flushdb()
    timings: list[tuple[int, int]] = []
    res = run_backtest(events, strategies, client, seed=seed, tick_timings=timings, sims=sims)
    client.flushdb()
    return {
        "instruments": len(inst_ids),
        "events": len(events),
        "all_ticks": figures([ns for ns, _ in timings]),
        "no_order_ticks": figures([ns for ns, calls in timings if calls == 0]),
        "order_ticks": figures([ns for ns, calls in timings if calls > 0]),
        "trades": len(res.trips),
        "fills": len(res.ledger.fills),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--duration", type=int, default=300, help="synthetic seconds per run (10 books/s/instrument)"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "strategy.json")
    args = ap.parse_args(argv)

    import redis

    from athena.testing.redis_server import RedisServer

    logging.getLogger("athena").setLevel(logging.ERROR)  # per-order warnings are not the figures
    sims = ten_instruments()
    ids = tuple(si.instId for si in sims)
    server = RedisServer().start()
    try:
        client = redis.Redis.from_url(server.url)
        runs = [
            run(client, sims, ids[:1], args.seed, args.duration),
            run(client, sims, ids, args.seed, args.duration),
        ]
        client.close()
    finally:
        server.stop()
    doc = {
        "bench": "strategy_tick_to_decision",
        "strategy": "ScalperV1 (default params), one instance per run",
        "seed": args.seed,
        "duration_s": args.duration,
        "runs": runs,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    for r in runs:
        print(
            f"ScalperV1 on {r['instruments']} instrument(s), {r['events']} events, {r['trades']} round trips"
        )
        for key in ("all_ticks", "no_order_ticks", "order_ticks"):
            f = r[key]
            print(
                f"  {key:<15} n={f['count']:<6} p50 {f['p50_us']:>8.2f} µs   p99 {f['p99_us']:>8.2f} µs   "
                f"max {f['max_us']:>9.2f} µs"
            )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
