"""Manual controls: `athena status | reconcile | flatten | halt | resume | config`.

reconcile/flatten/halt/resume are PRIVILEGED: they act on real positions. Each sends the Celery task
to the running workers (so it is serialized with placement, through the same single writer) and
prints the result; `--local` runs it in this process instead (e.g. when no worker is up).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from typing import Any

import orjson

from athena.config import ConfigError, Settings, load_settings, set_settings


def _settings() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"athena: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    set_settings(settings)
    return settings


def _print(obj: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=2, default=str))
        return
    from rich.console import Console
    from rich.pretty import Pretty

    Console().print(Pretty(obj, expand_all=False))


def _run_task(name: str, kwargs: dict[str, Any], local: bool, timeout: float) -> Any:
    if local:
        import workers.tasks as tasks

        return getattr(tasks, name.removeprefix("athena.")).apply(kwargs=kwargs).get(timeout=timeout)
    from workers.app import app

    queue = "orders" if name in ("athena.flatten",) else "default"
    return app.send_task(name, kwargs=kwargs, queue=queue).get(timeout=timeout)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--local", action="store_true", help="run in this process instead of a worker")
    parser.add_argument("--timeout", type=float, default=60.0)


def reconcile_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="athena reconcile", description="ledger and orders vs the exchange (privileged)")
    _common(p)
    a = p.parse_args(argv)
    _settings()
    result = _run_task("athena.reconcile", {}, a.local, a.timeout)
    _print(result, a.json)
    return 0 if not result.get("drift") else 1


def flatten_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="athena flatten", description="halt, cancel all, close positions (privileged)")
    p.add_argument("--inst-id", default=None)
    p.add_argument("--reason", default="manual flatten from the CLI")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _common(p)
    a = p.parse_args(argv)
    settings = _settings()
    if not a.yes and sys.stdin.isatty():
        answer = input(f"Flatten {a.inst_id or 'EVERYTHING'} on account {settings.account} ({settings.mode})? [y/N] ")
        if answer.strip().lower() != "y":
            print("aborted")
            return 1
    result = _run_task("athena.flatten", {"inst_id": a.inst_id, "reason": a.reason}, a.local, a.timeout)
    _print(result, a.json)
    return 0 if result.get("ok") else 1


def _pause(settings: Settings, strategy: str, paused: bool, reason: str, as_json: bool) -> int:
    from athena.strategies.pause import set_paused

    try:
        _print(set_paused(settings, strategy, paused, reason or "manual pause", "cli"), as_json)
    except ValueError as exc:
        print(f"athena: {exc}", file=sys.stderr)
        return 2
    return 0


def halt_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="athena halt", description="stop new entries everywhere (privileged)")
    p.add_argument("--reason", default="manual halt")
    p.add_argument("--strategy", help="pause only this strategy: no new entries, its exits still run")
    _common(p)
    a = p.parse_args(argv)
    settings = _settings()
    if a.strategy:
        return _pause(settings, a.strategy, True, a.reason, a.json)
    _print(_run_task("athena.halt", {"reason": a.reason, "who": "cli"}, a.local, a.timeout), a.json)
    return 0


def resume_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="athena resume", description="allow new entries again (privileged)")
    p.add_argument("--strategy", help="resume only this strategy (clears its pause, not a global halt)")
    _common(p)
    a = p.parse_args(argv)
    settings = _settings()
    if a.strategy:
        return _pause(settings, a.strategy, False, "", a.json)
    _print(_run_task("athena.resume", {"who": "cli"}, a.local, a.timeout), a.json)
    return 0


def config_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="athena config", description="validate and print the configuration")
    p.parse_args(argv)
    settings = _settings()
    print(settings.model_dump_json(indent=2))  # SecretStr fields print as '**********'
    return 0


def collect_status(settings: Settings, ping_workers: bool = True) -> dict[str, Any]:
    from athena.engine import Engine
    from athena.strategies.pause import StrategyPause

    eng = Engine(settings, role="cli")
    try:
        r, k = eng.redis, eng.keys
        stream = r.get(k.kv("stream_status"))
        heartbeat = r.get(k.kv("heartbeat"))
        halt = eng.halt.state()
        marks = {}
        for instId in settings.symbols:
            px = eng.marks.get(instId)
            marks[instId] = str(px) if px is not None else None
        orders = [
            {"clOrdId": o.clOrdId, "instId": o.instId, "side": str(o.req.side), "ordType": str(o.req.ordType),
             "sz": str(o.req.sz), "px": str(o.req.px) if o.req.px is not None else None, "state": str(o.state),
             "accFillSz": str(o.accFillSz)}
            for o in eng.store.working()
        ]  # fmt: skip
        stops = [
            {"algoClOrdId": a.algoClOrdId, "instId": a.instId, "side": str(a.side), "sz": str(a.sz),
             "slTriggerPx": str(a.slTriggerPx), "state": str(a.state)}
            for a in eng.algos.working()
        ]  # fmt: skip
        positions = [
            {"instId": p.instId, "posSide": str(p.posSide), "pos": str(p.pos), "avgPx": str(p.avgPx)}
            for p in eng.positions.exchange_positions() if not p.is_flat
        ]  # fmt: skip
        snap = eng.capital.snapshot(eng.marks.get_many(settings.symbols))
        out: dict[str, Any] = {
            "account": settings.account, "mode": settings.mode, "env": settings.env,
            "halted": halt is not None, "halt": asdict(halt) if halt is not None else None,
            "paused_strategies": StrategyPause(r, k).paused(),
            "breakers": {"sync_positions": eng.breaker("sync_positions").state()},
            "marks": marks, "positions": positions, "working_orders": orders, "stops": stops,
            "pnl": {"equity": str(snap.equity), "realised": str(snap.realised), "unrealised": str(snap.unrealised),
                    "fees": str(snap.fees), "drawdown": str(snap.drawdown), "hwm": str(snap.hwm)},
            "stream": orjson.loads(stream) if stream else None,
            "heartbeat": orjson.loads(heartbeat) if heartbeat else None,
            "at_ms": int(time.time() * 1000),
        }  # fmt: skip
        if ping_workers:
            from workers.app import app

            try:
                replies = app.control.ping(timeout=1.0) or []
                out["workers"] = sorted(name for reply in replies for name in reply)
            except Exception as exc:  # broker down: say so instead of failing the whole status
                out["workers"] = f"unreachable: {type(exc).__name__}"
        return out
    finally:
        eng.close()


def status_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="athena status", description="positions, orders, stops, PnL, halt, workers")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    _print(collect_status(_settings()), a.json)
    return 0
