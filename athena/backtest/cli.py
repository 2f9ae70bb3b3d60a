"""`athena backtest --data PATH... [--format F] | --synthetic --seed N [--duration S] [--out DIR]`.

Replays market data through the strategies + OMS against the sim's matching engine, in process, on a
simulated clock. Uses a private redis-server (started and stopped here) unless --redis-url is given.
--data reads what `athena record` wrote, a store `athena download` made, Tardis.dev CSV files of
okex-swap, or OKX push JSON lines; the format is detected from the content (or given by --format).
The report names the source, the period and the gaps.
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

from athena.backtest.feed import Feed, FeedError, MarketEvent, events_from_push
from athena.marketdata.sources import FORMATS, SourceError, describe_gaps, open_source
from athena.marketdata.store import iso
from athena.sim.instruments import default_instruments
from athena.state.keys import env_prefix

NAMESPACE = env_prefix("backtest")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="athena backtest", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--data",
        type=Path,
        nargs="+",
        metavar="PATH",
        help="recorded files/dir (athena record), a store (athena download), Tardis CSV, OKX push lines",
    )
    src.add_argument("--synthetic", action="store_true", help="a seeded synthetic market")
    p.add_argument("--format", choices=FORMATS, default="auto", help="the --data format (default: detected)")
    p.add_argument(
        "--tardis-amount",
        choices=("contracts", "coin"),
        default="contracts",
        help="unit of Tardis amounts (okex-swap: contracts, OKX's own sz)",
    )
    p.add_argument("--seed", type=int, default=7, help="seed of the synthetic market and the sim (default 7)")
    p.add_argument("--duration", type=int, default=600, help="synthetic seconds (default 600)")
    p.add_argument(
        "--instIds", help="instruments, comma-separated (synthetic default BTC-USDT-SWAP; data: all)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("var/backtest"),
        help="where the report folders go: each run gets a new <UTC time>-<strategy> folder in it "
        "(default var/backtest)",
    )
    p.add_argument("--capital", default="10000", help="starting equity in USDT")
    p.add_argument(
        "--strategy",
        default="ScalperV1",
        metavar="CLS",
        help="the strategy class, one per instrument: a name (built in, an entry point, a class in "
        "--strategies-dir) or package.module:Class (default ScalperV1)",
    )
    p.add_argument("--params", default="{}", help="the strategy's params as JSON (default: its defaults)")
    p.add_argument("--strategies", type=Path, help="JSON list of strategy settings (as in config)")
    p.add_argument(
        "--strategies-dir", type=Path, help="a folder of strategy files (default: strategies_dir of config)"
    )
    p.add_argument("--redis-url", help="use this Redis (keys under athena:backtest:, cleared first)")
    p.add_argument("--quiet", action="store_true", help="print only the figures")
    return p


def _events(args: argparse.Namespace) -> tuple[list[MarketEvent], dict[str, Any]]:
    insts = [i.strip() for i in (args.instIds or "").split(",") if i.strip()]
    if args.data is not None:
        return _data_events(args, insts)
    from athena.backtest.synthetic import synthetic_pushes

    ids = tuple(insts or ["BTC-USDT-SWAP"])

    def gen() -> Iterator[MarketEvent]:
        for msg in synthetic_pushes(args.seed, args.duration, ids):
            yield from events_from_push(msg)

    events = list(gen())
    meta = {"synthetic": True, "seed": args.seed, "duration_s": args.duration, "instIds": list(ids)}
    meta["source"] = {
        "format": "synthetic",
        "description": "the seeded synthetic market (not real data)",
        "period": _period(events),
        "gaps": [],
        "book": "synthetic books5",
    }
    return events, meta


def load_events(
    data: list[Path] | None,
    fmt: str = "auto",
    instIds: str = "",
    tardis_amount: str = "contracts",
    seed: int = 7,
    duration: int = 600,
) -> tuple[list[MarketEvent], dict[str, Any]]:
    """The events (and what they are) of --data paths, or of the seeded synthetic market when data is
    None: the same reading as `athena backtest` (athena optimize's trials use it on the workers)."""
    return _events(
        argparse.Namespace(
            data=data, format=fmt, instIds=instIds, tardis_amount=tardis_amount, seed=seed, duration=duration
        )
    )


def _data_events(args: argparse.Namespace, insts: list[str]) -> tuple[list[MarketEvent], dict[str, Any]]:
    table = {si.instId: (si.inst.tickSz, si.inst.lotSz, si.inst.ctVal) for si in default_instruments()}
    src = open_source(list(args.data), args.format, insts or None, table, args.tardis_amount)
    feed = Feed(
        approx_book=True if src.approx_book else None, instruments={k: (v[0], v[1]) for k, v in table.items()}
    )
    events = list(feed.events(src.pushes()))
    unknown = sorted({e.instId for e in events} - set(table))
    if unknown:
        raise ValueError(
            f"the backtest's instrument table has no {', '.join(unknown)} (it knows "
            f"{', '.join(sorted(table))}); pick instruments with --instIds"
        )
    st = feed.stats
    gaps = [*src.gaps, *st.gaps]
    approx = (
        "APPROXIMATED from trades (no book in the data): best bid/ask from the last sell/buy print, "
        "5 levels a tick apart, equal sizes (median trade size): no depth, no imbalance"
    )
    parts = []
    if st.books_rebuilt:
        rebuilt = (
            f"rebuilt from books snapshots + updates: {st.checksums_checked} checksums verified, "
            f"{st.checksum_failures} failed, {st.seq_gaps} seqId gaps"
        )
        parts.append(
            rebuilt + (" (no checksum in the data: seqId chain only)" if not st.checksums_checked else "")
        )
    if st.top_books:
        parts.append("as sent (books5 / bbo-tbt snapshots)")
    never = sorted(st.approximated - set(feed.book_channel))  # instruments that never had a book
    if never:
        whole = not (st.books_rebuilt or st.top_books)
        parts.append(approx if whole else f"for {', '.join(never)}: {approx}")
    book = "; ".join(parts) or "none in the data"
    early = sorted(st.approximated & set(feed.book_channel))
    if early:
        src.notes.append(
            f"trades of {', '.join(early)} before its first book got a book approximated from them"
        )
    source = {
        "format": src.format,
        "paths": [str(p) for p in src.paths],
        "description": src.description,
        "instIds": sorted(st.instIds),
        "period": _period(events),
        "book": book,
        "gaps": describe_gaps(gaps[:200]),
        "gap_count": len(gaps) + st.gaps_dropped,
        "notes": src.notes,
        "funding": f"{st.funding_prints} funding-rate prints read; open positions are charged at each 8-hour "
        "settlement at the last rate printed"
        if st.funding_prints
        else "none in the data: none charged",
        "mark": f"{st.mark_prints} mark-price prints (the exchange's mark follows them)"
        if st.mark_prints
        else "the mid of the book",
        "contracts": "sizes are in contracts (OKX's sz)",
    }
    meta = {"data": [p.name for p in args.data], "seed": args.seed, "source": source}
    return events, meta


def _period(events: list[MarketEvent]) -> dict[str, Any]:
    if not events:
        return {}
    lo, hi = min(e.ts for e in events), max(e.ts for e in events)
    return {"start": iso(lo), "end": iso(hi), "start_ts": lo, "end_ts": hi, "seconds": (hi - lo) // 1000}


def _configured_strategies_dir() -> str:
    """strategies_dir of the configuration, when one loads (a backtest needs no valid config)."""
    try:
        from athena.config import load_settings

        return load_settings().strategies_dir
    except Exception:
        return ""


def _clear(redis: Any) -> None:
    for key in redis.scan_iter(match=NAMESPACE + "*", count=1000):
        redis.delete(key)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import redis as redis_lib

    from athena.backtest.engine import default_strategies, run_backtest
    from athena.backtest.report import print_summary, write_report
    from athena.config import StrategySettings
    from athena.strategies.base import StrategyParamError
    from athena.strategies.loader import validate

    try:
        events, meta = _events(args)
    except (OSError, ValueError, SourceError, FeedError) as exc:
        print(f"athena backtest: {exc}", file=sys.stderr)
        return 2
    if not events:
        what = ", ".join(str(p) for p in args.data) if args.data else "the synthetic market"
        print(
            f"athena backtest: no book or trade in {what} (a subscribe ack or an empty file only?)",
            file=sys.stderr,
        )
        return 2
    strategies_dir = (
        str(args.strategies_dir) if args.strategies_dir is not None else _configured_strategies_dir()
    )
    try:
        if args.strategies is not None:
            strategies = [StrategySettings.model_validate(s) for s in json.loads(args.strategies.read_text())]
        else:
            insts = sorted({e.instId for e in events})
            params = json.loads(args.params)
            if not isinstance(params, dict):
                raise ValueError(f"--params must be a JSON object, not {type(params).__name__}")
            strategies = default_strategies(insts, params, args.strategy)
        for s in strategies:  # the loader's check, as `athena config` makes it: one sentence, no traceback
            validate(s.cls, dict(s.params), strategies_dir or None, s.name)
    except StrategyParamError as exc:
        print(f"athena backtest: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"athena backtest: strategies: {exc}", file=sys.stderr)
        return 2
    meta["capital"] = args.capital
    meta["strategies"] = [
        s.model_dump(mode="json", include={"name", "cls", "instIds", "allocation", "params"})
        for s in strategies
    ]

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
        result = run_backtest(
            events,
            strategies,
            client,
            seed=args.seed,
            total_capital=Decimal(args.capital),
            strategies_dir=strategies_dir,
        )
        _clear(client)
    except Exception as exc:  # a strategy param error, a bad config: say it plainly
        print(f"athena backtest: {exc}", file=sys.stderr)
        return 1
    finally:
        athena_log.setLevel(saved_level)  # called in-process (tests), it must not silence the caller's logs
        client.close()
        if server is not None:
            server.stop()
    try:
        folder, doc = write_report(result, args.out, meta)
    except OSError as exc:
        print(
            f"athena backtest: cannot write the report under {args.out}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    text = print_summary(doc, result, folder)
    print(text.split("\n", 1)[1] if args.quiet and "\n" in text else text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
