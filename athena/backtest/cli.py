"""`athena backtest --data FILE.jsonl | --synthetic --seed N [--duration S] [--out DIR]`.

Replays market data through the strategies + OMS against the sim's matching engine, in process, on a
simulated clock. Uses a private redis-server (started and stopped here) unless --redis-url is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from athena.backtest.feed import MarketEvent, events_from_push, read_jsonl

NAMESPACE = "athena:backtest:"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="athena backtest", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="OKX public push JSON lines (books5/trades)")
    src.add_argument("--synthetic", action="store_true", help="a seeded synthetic market")
    p.add_argument("--seed", type=int, default=7, help="seed of the synthetic market and the sim (default 7)")
    p.add_argument("--duration", type=int, default=600, help="synthetic seconds (default 600)")
    p.add_argument("--instIds", default="BTC-USDT-SWAP", help="synthetic instruments, comma-separated")
    p.add_argument("--out", type=Path, default=Path("var/backtest"), help="report directory")
    p.add_argument("--capital", default="10000", help="starting equity in USDT")
    p.add_argument("--params", default="{}", help="ScalperV1 params as JSON (default: its defaults)")
    p.add_argument("--strategies", type=Path, help="JSON list of strategy settings (as in config)")
    p.add_argument("--redis-url", help="use this Redis (keys under athena:backtest:, cleared first)")
    p.add_argument("--quiet", action="store_true", help="print only the figures")
    return p


def _events(args: argparse.Namespace) -> tuple[list[MarketEvent], dict[str, Any]]:
    if args.data is not None:
        return read_jsonl(args.data), {"data": args.data.name, "seed": args.seed}
    from athena.backtest.synthetic import synthetic_pushes

    insts = tuple(i.strip() for i in args.instIds.split(",") if i.strip())

    def gen() -> Iterator[MarketEvent]:
        for msg in synthetic_pushes(args.seed, args.duration, insts):
            yield from events_from_push(msg)

    return list(gen()), {"synthetic": True, "seed": args.seed, "duration_s": args.duration, "instIds": list(insts)}


def _clear(redis: Any) -> None:
    for key in redis.scan_iter(match=NAMESPACE + "*", count=1000):
        redis.delete(key)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import redis as redis_lib

    from athena.backtest.engine import default_strategies, run_backtest
    from athena.backtest.report import print_summary, write_report
    from athena.config import StrategySettings

    try:
        events, meta = _events(args)
    except (OSError, ValueError) as exc:
        print(f"athena backtest: {exc}", file=sys.stderr)
        return 2
    if not events:
        print("athena backtest: no market data events", file=sys.stderr)
        return 2
    try:
        if args.strategies is not None:
            strategies = [StrategySettings.model_validate(s) for s in json.loads(args.strategies.read_text())]
        else:
            insts = sorted({e.instId for e in events})
            strategies = default_strategies(insts, json.loads(args.params))
    except (OSError, ValueError) as exc:
        print(f"athena backtest: strategies: {exc}", file=sys.stderr)
        return 2
    meta["capital"] = args.capital
    meta["strategies"] = [s.model_dump(mode="json", include={"name", "cls", "instIds", "allocation", "params"})
                          for s in strategies]

    server = None
    if args.redis_url:
        client = redis_lib.Redis.from_url(args.redis_url)
    else:
        from athena.testing.redis_server import RedisServer

        server = RedisServer().start()
        client = redis_lib.Redis.from_url(server.url)
    athena_log = logging.getLogger("athena")
    saved_level = athena_log.level
    athena_log.setLevel(logging.ERROR)  # per-order warnings would drown the figures
    try:
        _clear(client)
        result = run_backtest(events, strategies, client, seed=args.seed, total_capital=Decimal(args.capital))
        _clear(client)
    except Exception as exc:  # a strategy param error, a bad config: say it plainly
        print(f"athena backtest: {exc}", file=sys.stderr)
        return 1
    finally:
        athena_log.setLevel(saved_level)  # called in-process (tests), it must not silence the caller's logs
        client.close()
        if server is not None:
            server.stop()
    doc = write_report(result, args.out, meta)
    text = print_summary(doc, result, args.out)
    print(text.split("\n", 1)[1] if args.quiet and "\n" in text else text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
