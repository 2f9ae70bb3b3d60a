"""`athena optimize`: a walk-forward parameter search whose trials run on the research workers.

    athena optimize --data PATH... | --synthetic [--duration S]  --param NAME=int:LO:HI[:STEP] ...
                    [--strategy ScalperV1] [--sampler tpe|random|grid] [--trials N] [--batch N]
                    [--folds K] [--anchored] [--seed N] [--timeout S] [--out FILE] [--json]

Each trial is a Celery task (athena.run_trial) on queue research.<account>, carrying the data's
reference (absolute paths every research worker must be able to read, or the synthetic market's
seed), never the data. Start research workers on as many machines as you like:
`celery -A workers.research worker -Q research.<account>` (same REDIS_URL and ATHENA_ACCOUNT).

Before sending anything it checks, in about a second, the parameter space against the strategy's
params, Redis, the result backend, a live research worker, and the data; what is wrong is said in one
sentence. Every task carries `expires` (the --timeout a batch may take): when this command gives up
(timeout, Ctrl-C, a failed trial, the workers gone) it takes the batch's unstarted messages back out
of the queue and revokes them, so nothing it queued runs later.

Exit codes: 0 done; 1 a trial failed; 2 usage (space, data, strategy, config); 3 Redis, the result
backend or the research workers down or too slow; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from athena.process.control import EXIT_DOWN, EXIT_OK, EXIT_USAGE, _fail, _settings, command
from athena.research.data import DataSpec
from athena.research.runner import CeleryRunner, research_workers
from athena.research.search import SAMPLERS, SearchConfig


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="athena optimize", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--data",
        type=Path,
        nargs="+",
        metavar="PATH",
        help="as for athena backtest; every "
        "research worker must read the same paths (they are sent as absolute paths)",
    )
    src.add_argument(
        "--synthetic", action="store_true", help="the seeded synthetic market (see --market-seed)"
    )
    from athena.marketdata.sources import FORMATS

    p.add_argument("--format", choices=FORMATS, default="auto", help="the --data format (default: detected)")
    p.add_argument("--instIds", default="", help="instruments, comma-separated (default: all in the data)")
    p.add_argument("--duration", type=int, default=600, help="synthetic seconds (default 600)")
    p.add_argument("--market-seed", type=int, default=7, help="seed of the synthetic market (default 7)")
    p.add_argument("--strategy", default="ScalperV1", help="strategy class (default ScalperV1)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=KIND:...",
        help="a dimension: NAME=int:LO:HI[:STEP], NAME=float:LO:HI[:STEP] or NAME=choice:A,B (repeat)",
    )
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="Optuna sampler (default tpe)")
    p.add_argument(
        "--trials", type=int, default=20, help="trials per fold (grid: at most its size; default 20)"
    )
    p.add_argument(
        "--batch",
        type=int,
        default=8,
        help="trials in flight at once (default 8); a fixed number so "
        "the same seed gives the same trials however many workers run them",
    )
    p.add_argument(
        "--folds", type=int, default=3, help="walk-forward windows K: K-1 in-sample/out-of-sample steps"
    )
    p.add_argument(
        "--anchored", action="store_true", help="in-sample = every window so far (default: the last one)"
    )
    p.add_argument(
        "--seed", type=int, default=7, help="seed of the sampler and of the backtests' sim (default 7)"
    )
    p.add_argument("--timeout", type=float, default=600.0, help="seconds a batch may take on the workers")
    p.add_argument(
        "--out",
        type=Path,
        help="write the result here as JSON (default var/optimize/optimize-<UTC time>.json)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of tables")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _preflight(settings: Any) -> Any:
    """Redis, the result backend and a live research worker of this account, in about a second."""
    from athena.broker import describe
    from athena.process.control import preflight
    from athena.state.workers import WorkerRegistry, identity_of

    ready = preflight(settings)  # Redis down: exit 3 with the sentence
    if ready.backend_down:
        backend = settings.result_backend.get_secret_value()
        _fail(
            f"the result backend at {describe(backend, settings.redis_sentinel_master)} does not answer: "
            f"{ready.backend_down}, so no trial's result could come back. Nothing was sent.",
            EXIT_DOWN,
        )
    if not research_workers(WorkerRegistry(ready.redis), ready.queues.research, identity_of(settings)):
        start = " ".join(ready.queues.worker_command("research"))
        _fail(
            f"no research worker of account {settings.account} is running (none has a heartbeat on queue "
            f"{ready.queues.research}). Start one or more ({start}). Nothing was sent.",
            EXIT_DOWN,
        )
    return ready


def _config(a: argparse.Namespace) -> SearchConfig:
    from athena.research.search import check
    from athena.research.space import SpaceError, parse_space
    from athena.research.trial import params_model

    try:
        model = params_model(a.strategy)
        dims = parse_space(a.param, a.strategy, model)
    except (SpaceError, ValueError) as exc:
        _fail(str(exc), EXIT_USAGE)
    insts = tuple(i.strip() for i in a.instIds.split(",") if i.strip())
    paths = tuple(str(p.resolve()) for p in a.data) if a.data else ()
    spec = DataSpec(
        paths=paths,
        format=a.format,
        instIds=insts,
        synthetic_seed=a.market_seed,
        synthetic_duration_s=a.duration,
    )
    config = SearchConfig(
        spec,
        a.strategy,
        dims,
        0,
        0,
        folds=a.folds,
        anchored=a.anchored,
        sampler=a.sampler,
        trials=a.trials,
        batch=a.batch,
        seed=a.seed,
    )
    try:
        check(config, period=False)  # the space and sizes, before anything is read or sent
    except SpaceError as exc:
        _fail(str(exc), EXIT_USAGE)
    return config


def _with_period(config: SearchConfig) -> SearchConfig:
    from athena.backtest.feed import FeedError
    from athena.marketdata.sources import SourceError
    from athena.research.data import events_of, with_fingerprint
    from athena.research.search import check
    from athena.research.space import SpaceError

    try:
        config.data = with_fingerprint(config.data)
        events = events_of(config.data)
    except (OSError, ValueError, SourceError, FeedError) as exc:
        _fail(f"the data cannot be read: {exc}", EXIT_USAGE)
    if not events:
        _fail(f"no book or trade in {config.data.describe()}", EXIT_USAGE)
    config.start_ts, config.end_ts = events[0].ts, events[-1].ts
    try:
        check(config)
    except SpaceError as exc:
        _fail(str(exc), EXIT_USAGE)
    return config


def _when(w: dict[str, Any], same_day: bool) -> str:
    cut = (lambda t: t[11:19]) if same_day else (lambda t: t[:16].replace("T", " "))
    return f"{cut(w['start'])}-{cut(w['end'])}"


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _print_tables(doc: dict[str, Any], workers: dict[str, int], elapsed: float) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 130))  # a pipe gets 80 columns: too few for the table
    folds_ = doc["folds"]
    same_day = (
        bool(folds_) and folds_[0]["in_sample"]["start"][:10] == folds_[-1]["out_of_sample"]["end"][:10]
    )
    day = f" ({folds_[0]['in_sample']['start'][:10]}, UTC)" if same_day else " (UTC)"
    t = Table(
        title=f"athena optimize: {doc['strategy']}, {doc['sampler']} sampler, seed {doc['seed']}, "
        f"objective {doc['objective']}",
        show_edge=False,
    )
    for col in (
        "fold",
        "in sample" + day,
        "best",
        "IS net",
        "IS trades",
        "out of sample",
        "OOS net",
        "OOS trades",
        "defaults OOS net",
    ):
        t.add_column(col, no_wrap=col != "in sample" + day)
    for f in folds_:
        t.add_row(
            str(f["fold"]),
            _when(f["in_sample"], same_day),
            f"#{f['best']['number']}",
            str(f["best_in_sample"].get("net_pnl")),
            str(f["best_in_sample"].get("trades")),
            _when(f["out_of_sample"], same_day),
            str(f["best_out_of_sample"].get("net_pnl")),
            str(f["best_out_of_sample"].get("trades")),
            str(f["defaults_out_of_sample"].get("net_pnl")),
        )
    console.print(t)
    for f in folds_:
        console.print(f"  fold {f['fold']} best params: {_params(f['best']['params'])}", highlight=False)
    s = doc["summary"]
    n = sum(workers.values())
    console.print(
        f"net PnL in sample {s['in_sample_net_pnl']}, out of sample {s['out_of_sample_net_pnl']} "
        f"(closed trades: {s['out_of_sample_trades']}); the defaults out of sample "
        f"{s['defaults_out_of_sample_net_pnl']}",
        highlight=False,
    )
    console.print(
        f"recommended params (best on the latest in-sample window): {_params(s['recommended_params'])}",
        highlight=False,
    )
    console.print(
        f"{n} trials in {elapsed:.1f} s ({n / elapsed if elapsed else 0:.2f}/s) on "
        + ", ".join(f"{w} ({c})" for w, c in sorted(workers.items())),
        highlight=False,
    )


def _out_path(given: Path | None) -> Path:
    if given is not None:
        return given
    import datetime as dt

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return Path("var/optimize") / f"optimize-{stamp}.json"


@command("optimize")
def main(argv: list[str]) -> int:
    a = _parser().parse_args(argv)
    config = _config(a)  # a bad space: exit 2 before any connection
    settings = _settings()
    ready = _preflight(settings)
    config = _with_period(config)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from athena.research.search import report, run_search

    runner = CeleryRunner(ready, config, a.timeout)
    t0 = time.monotonic()
    try:
        with Progress(
            TextColumn("trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=a.no_progress or a.json,
            transient=False,
        ) as progress:
            task = progress.add_task("trials", total=config.total_tasks())
            results = run_search(config, runner, lambda: progress.advance(task))
    finally:
        runner.close()
    elapsed = time.monotonic() - t0
    doc = report(config, results)
    out = _out_path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    if a.json:
        print(
            json.dumps(
                {**doc, "workers": runner.workers, "seconds": round(elapsed, 3), "out": str(out)}, indent=2
            )
        )
    else:
        _print_tables(doc, runner.workers, elapsed)
        print(f"result: {out}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
