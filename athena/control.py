"""Manual controls: `athena status | reconcile | flatten | halt | resume | config`.

reconcile/flatten/halt/resume are PRIVILEGED: they act on real positions. Each sends the Celery task
to the running workers (so it is serialized with placement, through the same single writer) and
prints the result; `--local` runs it in this process instead (e.g. when no worker is up).

A task is only ever run while its operator waits for it: it carries `expires` = the CLI's timeout
(a worker that takes it later discards it unrun), and when the CLI gives up (timeout, Ctrl-C) it
takes the message back out of the broker's queue if no worker has taken it, then revokes it.

Exit codes: 0 done; 1 refused or failed; 2 usage or configuration; 3 a service is down or did not
answer in time (Redis, the workers).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from typing import Any, NoReturn
from urllib.parse import urlsplit

import orjson

from athena.config import ConfigError, Settings, load_settings, set_settings

EXIT_FAILED, EXIT_USAGE, EXIT_DOWN = 1, 2, 3  # and 0: done


def _settings() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"athena: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    set_settings(settings)
    return settings


def _print(obj: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=2, default=str))
        return
    from rich.console import Console
    from rich.pretty import Pretty

    Console().print(Pretty(obj, expand_all=False))


# who serves each queue in every deployment (README, docker-compose.yml, athena.launch)
_WORKER_COMMAND = "celery -A workers.app worker -Q orders,default -P threads -c 4 --prefetch-multiplier 1 -n orders@%h"


def _fail(message: str, code: int) -> NoReturn:
    print(f"athena: {message}", file=sys.stderr)
    raise SystemExit(code)


def _broker_name(url: str) -> str:
    """host:port of a broker URL, never its password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}" if parts.scheme.startswith("redis") else parts.scheme


def send_control(app: Any, name: str, kwargs: dict[str, Any], queue: str, timeout: float) -> Any:
    """Send a control task that no worker may start after `timeout` seconds: the operator has given
    up on it by then (Celery checks `expires` before the body, as it takes the message)."""
    return app.send_task(name, kwargs=kwargs, queue=queue, expires=timeout)


def withdraw(app: Any, task_id: str, queue: str) -> bool | None:
    """Take task `task_id`'s message back out of `queue` if no worker has taken it (Redis broker:
    one LREM, atomic against a worker's BRPOP). True: withdrawn, it never ran. False: not in the
    queue, a worker has it. None: cannot tell (another broker, or Redis did not answer)."""
    import redis

    url = app.conf.broker_url
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    if (app.conf.broker_transport_options or {}).get("global_keyprefix"):
        return None
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        for raw in client.lrange(queue, 0, -1):  # at priority 0 kombu's list is named after the queue
            try:
                if json.loads(raw)["headers"]["id"] != task_id:
                    continue
            except (ValueError, KeyError, TypeError):
                continue
            return bool(client.lrem(queue, 1, raw))
        return False
    except redis.RedisError:
        return None
    finally:
        client.close()


def _broker_answers(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, ValueError):
        return False


def _give_up(app: Any, result: Any, queue: str, what: str, timeout: float, interrupted: bool) -> Any:
    """The operator stops waiting, so the task must not run later. Returns its result if it has
    finished after all; otherwise says in one sentence what became of it and exits."""
    why = "before you interrupted it" if interrupted else f"within {timeout:g} s"
    code = 130 if interrupted else EXIT_DOWN
    withdrawn = withdraw(app, result.id, queue)
    try:
        app.control.revoke(result.id)  # a worker holding it unstarted discards it
    except Exception:
        pass  # its expiry stops it all the same
    if withdrawn is False and _ready(result):  # it finished as we gave up
        try:
            return result.get(timeout=1)
        except Exception as exc:
            _release(result)
            _fail(f"the {what} failed: {type(exc).__name__}: {exc}", EXIT_FAILED)
    _release(result)
    if withdrawn:
        _fail(f"no orders worker took the {what} {why}; it was withdrawn and nothing ran. "
              f"Start the orders worker ({_WORKER_COMMAND}) or use --local.", code)
    if withdrawn is False:
        _fail(f"an orders worker took the {what} but did not finish {why}; it was revoked, so it will not "
              f"start if it has not yet, but it may be running: check `athena status`.", code)
    _fail(f"no orders worker answered {why} and the {what} could not be taken back from the queue; it was "
          f"revoked, and no worker starts it more than {timeout:g} s after it was sent: check `athena status`.", code)


def _ready(result: Any) -> bool:
    try:
        return bool(result.ready())
    except Exception:
        return False


def _release(result: Any) -> None:
    """Stop listening for the result now: left to AsyncResult.__del__ at interpreter exit, the
    unsubscribe printed a traceback ("Python is likely shutting down")."""
    try:
        result.backend.remove_pending_result(result)
    except Exception:
        pass
    result.backend = None


def _run_task(name: str, kwargs: dict[str, Any], local: bool, timeout: float) -> Any:
    if local:
        import workers.tasks as tasks

        return getattr(tasks, name.removeprefix("athena.")).apply(kwargs=kwargs).get(timeout=timeout)
    from celery.exceptions import TimeoutError as ResultTimeout

    from workers.app import app

    what = name.removeprefix("athena.")
    if not _broker_answers(app.conf.broker_url):
        _fail(f"Redis at {_broker_name(app.conf.broker_url)} does not answer; nothing was sent. "
              f"Start Redis or set REDIS_URL.", EXIT_DOWN)
    queue = "orders" if name in ("athena.flatten",) else "default"
    result = send_control(app, name, kwargs, queue, timeout)
    try:
        return result.get(timeout=timeout)
    except ResultTimeout:
        return _give_up(app, result, queue, what, timeout, interrupted=False)
    except KeyboardInterrupt:
        return _give_up(app, result, queue, what, timeout, interrupted=True)
    except Exception as exc:  # the task raised on the worker, or Redis went away while we waited
        _release(result)
        _fail(f"the {what} failed: {type(exc).__name__}: {exc}", EXIT_FAILED)


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
            return EXIT_FAILED
    result = _run_task("athena.flatten", {"inst_id": a.inst_id, "reason": a.reason}, a.local, a.timeout)
    _print(result, a.json)
    return 0 if result.get("ok") else 1


def _pause(settings: Settings, strategy: str, paused: bool, reason: str, as_json: bool) -> int:
    from athena.strategies.pause import set_paused

    try:
        _print(set_paused(settings, strategy, paused, reason or "manual pause", "cli"), as_json)
    except ValueError as exc:
        print(f"athena: {exc}", file=sys.stderr)
        return EXIT_USAGE
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
            "holds": {name: asdict(h) for name, h in eng.halt.holds().items()},
            "paused_strategies": StrategyPause(r, k).paused(),
            "breakers": {"sync_positions": eng.breaker("sync_positions").state()},
            "marks": marks, "positions": positions, "working_orders": orders, "stops": stops,
            "pnl": {"equity": str(snap.equity), "realised": str(snap.realised), "unrealised": str(snap.unrealised),
                    "fees": str(snap.fees), "funding": str(snap.funding), "drawdown": str(snap.drawdown),
                    "hwm": str(snap.hwm)},
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
