"""Tick -> decision latency of ScalperV1 on the real stack (OMS + risk over a private Redis).

Replays a seeded synthetic market through the backtest engine and times the strategies' handling of
each tick. Ticks that decide nothing are pure strategy code (no I/O); ticks that place or cancel an
order include PreTradeCheck and OrderManager.submit (Redis round trips), reported separately.

    .venv/bin/python bench/bench_strategy.py [--seed 7] [--duration 600]
Prints p50/p99 in microseconds and writes bench/results/strategy.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pct(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] / 1000  # ns -> µs


def figures(ns: list[int]) -> dict[str, float | int]:
    return {"count": len(ns), "p50_us": round(pct(ns, 0.50), 2), "p99_us": round(pct(ns, 0.99), 2),
            "p999_us": round(pct(ns, 0.999), 2), "max_us": round(max(ns, default=0) / 1000, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--duration", type=int, default=600)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "strategy.json")
    args = ap.parse_args(argv)

    import logging

    import redis

    from athena.backtest.engine import default_strategies, run_backtest
    from athena.backtest.feed import events_from_push
    from athena.backtest.synthetic import synthetic_pushes
    from athena.testing.redis_server import RedisServer

    logging.getLogger("athena").setLevel(logging.ERROR)
    events = [e for m in synthetic_pushes(args.seed, args.duration) for e in events_from_push(m)]
    server = RedisServer().start()
    try:
        client = redis.Redis.from_url(server.url)
        # warm-up run (imports, Lua script loading), then the measured one on a clean namespace
        run_backtest(events[:2000], default_strategies(["BTC-USDT-SWAP"]), client)
        client.flushdb()
        timings: list[tuple[int, int]] = []
        res = run_backtest(events, default_strategies(["BTC-USDT-SWAP"]), client, seed=args.seed,
                           tick_timings=timings)
        client.close()
    finally:
        server.stop()
    quiet = [ns for ns, calls in timings if calls == 0]
    acting = [ns for ns, calls in timings if calls > 0]
    doc = {
        "bench": "strategy_tick_to_decision",
        "strategy": "ScalperV1 (default params)",
        "seed": args.seed,
        "events": len(events),
        "all_ticks": figures([ns for ns, _ in timings]),
        "no_order_ticks": figures(quiet),
        "order_ticks": figures(acting),
        "trades": len(res.trips),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    for key in ("all_ticks", "no_order_ticks", "order_ticks"):
        f = doc[key]
        print(f"{key:<15} n={f['count']:<6} p50 {f['p50_us']:>8.2f} µs   p99 {f['p99_us']:>8.2f} µs   "
              f"max {f['max_us']:>9.2f} µs")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
