"""Manual controls: `athena halt | resume | flatten | reconcile | config` (status: athena.process.status).

halt/resume/flatten/reconcile are PRIVILEGED: they act on real positions. Each first checks, within
about a second, what it needs: Redis (named as host:port/db, never with its password), a running
orders worker of this account (its heartbeat in Redis: athena.state.workers) and, when it is another
server, Celery's result backend. What is missing is said in one sentence with what to do about it.

- halt / halt --strategy NAME: sets the switch in Redis directly, no worker needed; placement refuses
  every queued entry from then on. Entries already working on the exchange are then cancelled by the
  orders worker (the athena.halt task) or, with --local and no worker, from this process.
- resume [--strategy NAME]: clears the switch in Redis directly.
- flatten / reconcile: the task goes to the orders worker, so it is serialized with placement through
  the account's single writer. With no orders worker, --local runs the same athena.ops code in this
  process; the output says where it ran.

A task is only ever run while its operator waits for it: it carries `expires` = the CLI's timeout
(a worker that takes it later discards it unrun), and when the CLI gives up (timeout, Ctrl-C) it
takes the message back out of the broker's queue if no worker has taken it, then revokes it.

Exit codes: 0 done; 1 refused or failed; 2 usage or configuration; 3 a service is down or did not
answer in time (Redis, the orders worker, the result backend). 130: interrupted.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from athena import alerts
from athena import queues as q
from athena.broker import describe, redis_client, unreachable
from athena.config import ConfigError, Settings, load_settings, set_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DOWN, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
PREFLIGHT_TIMEOUT_S = 1.0

_secrets: list[str] = []  # redacted from every message this module prints


class ControlExit(Exception):
    """Ends a command with one sentence on stderr and an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _fail(message: str, code: int) -> NoReturn:
    raise ControlExit(message, code)


def _clean(text: str) -> str:
    for s in sorted(_secrets, key=len, reverse=True):
        text = text.replace(s, "***")
    return text


def explain(exc: BaseException) -> tuple[str, int]:
    """What went wrong with a control, as one sentence (secrets redacted) and its exit code: the CLI
    prints it after `athena <command>:`, the dashboard shows it as is."""
    if isinstance(exc, ControlExit):
        return _clean(str(exc)), exc.code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    import redis

    if isinstance(exc, redis.RedisError):
        return (
            f"Redis stopped answering ({type(exc).__name__}: {_clean(str(exc))[:200]}); "
            f"check Redis and run `athena status`."
        ), EXIT_DOWN
    return f"failed: {type(exc).__name__}: {_clean(str(exc))[:300]}", EXIT_FAILED


def command(name: str) -> Callable[[Callable[[list[str]], int]], Callable[[list[str]], int]]:
    """One sentence and an exit code for whatever goes wrong, never a traceback."""

    def wrap(fn: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
        @functools.wraps(fn)
        def run(argv: list[str]) -> int:
            try:
                return fn(argv)
            except (Exception, KeyboardInterrupt) as exc:
                message, code = explain(exc)
                print(f"athena {name}: {message}", file=sys.stderr)
                return code

        return run

    return wrap


def _settings() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(str(exc), EXIT_USAGE)
    set_settings(settings)
    _secrets[:] = settings.secrets()
    from athena.logs import configure_logging

    # The command says itself what it did; of the ops code's log lines (a --local run) only errors
    # show, one line each, no traceback.
    configure_logging("ERROR", "text", "cli", _secrets, tracebacks=False)
    logging.getLogger("celery.backends").setLevel(
        logging.CRITICAL + 1
    )  # a lost backend: said by run_on_worker
    return settings


def _print(obj: Any, as_json: bool, headline: str = "") -> None:
    if as_json:
        print(json.dumps(obj, indent=2, default=str))
        return
    if headline:
        print(headline)
    for key, value in obj.items() if isinstance(obj, dict) else []:
        if isinstance(value, list | tuple):
            value = (
                ", ".join(
                    str(v if not isinstance(v, dict) else " ".join(f"{k}={x}" for k, x in v.items()))
                    for v in value
                )
                or "none"
            )
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
        print(f"  {key}: {value}")


# -- what a control needs ----------------------------------------------------------------------------
@dataclass
class Ready:
    settings: Settings
    queues: q.AccountQueues
    redis: Any
    workers: list[Any] = field(default_factory=list)  # live orders workers of this deployment
    backend_down: str | None = None  # why the result backend does not answer (None: it does)

    @property
    def worker(self) -> str:
        return self.workers[0].node if self.workers else ""


def worker_hint(settings: Settings) -> str:
    return " ".join(q.AccountQueues(settings.account).worker_command("orders"))


def preflight(settings: Settings) -> Ready:
    """Redis, this account's orders workers and the result backend, in about a second at most."""
    from athena.state.workers import WorkerRegistry, identity_of
    from athena.wiring import redis_from_settings

    url, master = settings.redis_url.get_secret_value(), settings.redis_sentinel_master
    why = unreachable(url, master, PREFLIGHT_TIMEOUT_S)
    if why:
        _fail(
            f"Redis at {describe(url, master)} does not answer: {why}. Nothing was done. "
            f"Start Redis, or set REDIS_URL to where it runs.",
            EXIT_DOWN,
        )
    queues = q.AccountQueues(settings.account)
    redis = redis_from_settings(settings, timeout=2.0)
    workers = WorkerRegistry(redis).alive(queues.orders, identity_of(settings))
    backend = settings.result_backend.get_secret_value()
    backend_down = unreachable(backend, master, PREFLIGHT_TIMEOUT_S) if backend and backend != url else None
    return Ready(settings, queues, redis, workers, backend_down)


def _no_worker(ready: Ready, what: str) -> str:
    s = ready.settings
    if ready.backend_down:
        backend = s.result_backend.get_secret_value()
        return (
            f"the result backend at {describe(backend, s.redis_sentinel_master)} does not answer: "
            f"{ready.backend_down}, so no answer from a worker could reach this command. Start it or fix "
            f"ATHENA_RESULT_BACKEND, or run `athena {what} --local` to do it in this process"
        )
    return (
        f"no orders worker of account {s.account} is running (none has a heartbeat on queue "
        f"{ready.queues.orders}). Start one ({worker_hint(s)}), or run `athena {what} --local` "
        f"to do it in this process"
    )


# -- sending a task and waiting for it --------------------------------------------------------------
def client_app(settings: Settings) -> Any:
    """A bare Celery client for this account's queues, failing fast: no connection retries, short
    socket timeouts (Celery's defaults retried a dead Redis for ~20 s before saying anything)."""
    from celery import Celery

    from athena.broker import celery_conf

    conf = celery_conf(settings)
    for key in ("broker_transport_options", "result_backend_transport_options"):
        conf[key] = {**conf[key], "socket_timeout": 5, "socket_connect_timeout": 2, "retry_on_timeout": False}
    queues = q.AccountQueues(settings.account)
    app = Celery("athena-cli", set_as_current=False)
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_queues=queues.kombu_queues(), task_default_queue=queues.default, task_routes=queues.routes(),
        broker_connection_retry=False, broker_connection_retry_on_startup=False,
        broker_connection_max_retries=0,
        broker_connection_timeout=2, redis_socket_timeout=5, redis_socket_connect_timeout=2,
        redis_retry_on_timeout=False, task_publish_retry=False, result_backend_always_retry=False,
        **conf,
    )  # fmt: skip
    app.backend.retry_policy = {"max_retries": 0, "interval_start": 0, "interval_step": 0, "interval_max": 0}
    return app


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
    opts = app.conf.broker_transport_options or {}
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://", "sentinel://")):
        return None
    if opts.get("global_keyprefix"):
        return None
    try:
        client = redis_client(url, opts.get("master_name", ""), socket_timeout=2, socket_connect_timeout=2)
    except ValueError:
        return None
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


class GaveUp(Exception):
    """No worker took the task before the CLI gave up, and it was withdrawn: nothing ran."""


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


def _give_up(app: Any, result: Any, queue: str, what: str, timeout: float, interrupted: bool) -> Any:
    """The operator stops waiting, so the task must not run later. Returns its result if it has
    finished after all; raises GaveUp when it was withdrawn unrun; otherwise says in one sentence
    what became of it and exits."""
    why = "before you interrupted it" if interrupted else f"within {timeout:g} s"
    code = EXIT_INTERRUPTED if interrupted else EXIT_DOWN
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
        raise GaveUp(f"no orders worker took the {what} {why}; it was withdrawn and nothing ran")
    if withdrawn is False:
        _fail(
            f"an orders worker took the {what} but did not finish {why}; it was revoked, so it will not "
            f"start if it has not yet, but it may be running: check `athena status`.",
            code,
        )
    _fail(
        f"no orders worker answered {why} and the {what} could not be taken back from the queue; it was "
        f"revoked, and no worker starts it more than {timeout:g} s after it was sent: check `athena status`.",
        code,
    )


def run_on_worker(settings: Settings, task: str, kwargs: dict[str, Any], timeout: float) -> Any:
    """Send `task` to this account's orders worker and wait for its result (GaveUp: nothing ran)."""
    from celery.exceptions import TimeoutError as ResultTimeout

    app = client_app(settings)
    what = task.removeprefix("athena.")
    queue = q.AccountQueues(settings.account).for_task(task)
    try:
        result = send_control(app, task, kwargs, queue, timeout)
    except Exception as exc:
        _fail(
            f"the {what} could not be sent: {type(exc).__name__}: {exc}. Check Redis and run `athena "
            "status`.",
            EXIT_DOWN,
        )
    try:
        return result.get(timeout=timeout)
    except ResultTimeout:
        return _give_up(app, result, queue, what, timeout, interrupted=False)
    except KeyboardInterrupt:
        return _give_up(app, result, queue, what, timeout, interrupted=True)
    except Exception as exc:  # the task raised on the worker, or Redis went away while we waited
        _release(result)
        import redis
        from kombu.exceptions import OperationalError

        lost = (redis.RedisError, OperationalError, ConnectionError)
        # Celery's result consumer reports a lost backend as RuntimeError("Retry limit exceeded ...")
        if isinstance(exc, lost) or isinstance(exc.__cause__, lost):
            _fail(
                f"Redis stopped answering while the {what} was waiting for its worker "
                f"({type(exc).__name__}); it may or may not have run: check `athena status`.",
                EXIT_DOWN,
            )
        _fail(f"the {what} failed on the worker: {type(exc).__name__}: {exc}", EXIT_FAILED)
    finally:
        try:
            app.close()
        except Exception:
            pass


def run_here(settings: Settings, task: str, kwargs: dict[str, Any]) -> Any:
    """Run the control's athena.ops code in this process (the orders worker's task bodies do the same)."""
    from athena.engine import Engine
    from athena.ops import flatten as flatten_ops
    from athena.ops import halt as halt_ops
    from athena.ops import reconcile as reconcile_ops
    from athena.ops.errors import BreakerOpen
    from athena.ops.local_sender import InProcessSender
    from athena.wiring import account, orders_engine

    engine: Engine | None = None

    def current() -> Engine:
        assert engine is not None
        return engine

    alerts.install_from(settings)  # a halt, drift or refused stop here is told like on the worker
    engine = orders_engine(account(settings), InProcessSender(current))
    try:
        if task == q.FLATTEN:
            return flatten_ops.flatten(
                engine, kwargs.get("inst_id"), kwargs.get("reason", "manual flatten")
            ).to_dict()
        if task == q.RECONCILE:
            try:
                return reconcile_ops.reconcile(engine).to_dict()
            except BreakerOpen as exc:
                return {"paused": True, "reason": str(exc)}
        if task == q.HALT:
            return halt_ops.halt(
                engine, current, kwargs["reason"], kwargs.get("who", "cli"), kwargs.get("strategy")
            ).to_dict()
        raise ValueError(f"no local run for {task}")
    finally:
        engine.close()


def run_control(
    ready: Ready, task: str, kwargs: dict[str, Any], local: bool, timeout: float
) -> tuple[Any, str]:
    """(result, where it ran): on this account's orders worker when one is running, else (--local)
    here; without --local and without a worker, exit 3 with nothing sent."""
    what = task.removeprefix("athena.")
    if ready.workers and not ready.backend_down:
        try:
            return run_on_worker(ready.settings, task, kwargs, timeout), f"orders worker {ready.worker}"
        except GaveUp as exc:
            if not local:
                _fail(
                    f"{exc}. Start the orders worker ({worker_hint(ready.settings)}) or use --local.",
                    EXIT_DOWN,
                )
            print(f"athena {what}: {exc}; running it in this process (--local)", file=sys.stderr)
            return run_here(ready.settings, task, kwargs), "this process (the orders worker did not take it)"
    if not local:
        _fail(f"{_no_worker(ready, what)}. Nothing was sent.", EXIT_DOWN)
    why = "the result backend is down" if ready.backend_down else "no orders worker is running"
    print(f"athena {what}: {why}; running it in this process (--local)", file=sys.stderr)
    return run_here(ready.settings, task, kwargs), f"this process ({why})"


@dataclass
class Outcome:
    """What a control did: its JSON-ready result, the one-line headline the CLI prints, its exit code."""

    out: dict[str, Any]
    headline: str
    code: int = EXIT_OK


class PartlyDone(ControlExit):
    """The control did part of its work (the halt switch is set) and then failed: `done` is what
    happened, shown before the sentence saying what did not."""

    def __init__(self, message: str, code: int, done: Outcome) -> None:
        super().__init__(message, code)
        self.done = done


def strategy_known(settings: Settings, strategy: str) -> None:
    known = sorted(s.name for s in settings.strategies)
    if strategy not in known:
        _fail(f"unknown strategy {strategy!r} (configured: {', '.join(known) or 'none'})", EXIT_USAGE)


# -- the controls, as functions (the CLI below and the dashboard, athena.dashboard, call these) --------
def do_reconcile(ready: Ready, local: bool = False, timeout: float = 60.0) -> Outcome:
    result, where = run_control(ready, q.RECONCILE, {}, local, timeout)
    result = {"ran_on": where, **result}
    drift = result.get("drift")
    code = EXIT_OK if not drift and not result.get("paused") else EXIT_FAILED
    return Outcome(
        result, f"Reconcile ran on {where}: {'drift found and corrected' if drift else 'no drift'}.", code
    )


def do_flatten(
    ready: Ready, inst_id: str | None, reason: str, local: bool = False, timeout: float = 60.0
) -> Outcome:
    result, where = run_control(ready, q.FLATTEN, {"inst_id": inst_id, "reason": reason}, local, timeout)
    result = {"ran_on": where, **result}
    ok = bool(result.get("ok"))
    return Outcome(
        result,
        f"Flatten ran on {where}: {'done' if ok else 'NOT complete, see failed/remaining_positions'}.",
        EXIT_OK if ok else EXIT_FAILED,
    )


def do_halt(
    ready: Ready,
    reason: str,
    who: str,
    strategy: str | None = None,
    local: bool = False,
    timeout: float = 20.0,
) -> Outcome:
    """Set the switch in Redis (no worker needed), then have the orders worker cancel the working
    entries. Raises PartlyDone when the switch is set but the entries could not be cancelled."""
    from athena.ops import halt as halt_ops
    from athena.wiring import account

    acct = account(ready.settings, redis=ready.redis)
    alerts.install_from(ready.settings, acct.redis, acct.keys)  # its alert goes out before this process exits
    newly = halt_ops.set_switch(acct, reason, who, strategy)
    what = f"strategy {strategy} paused" if strategy else "trading halted"
    out: dict[str, Any] = {"halted": strategy is None, "reason": reason, "changed": newly}
    if strategy:
        out.update(strategy=strategy, paused=True, all_paused=acct.pause.paused())
    working = halt_ops.entries_to_cancel(acct.store.working(), strategy)
    headline = f"{what.capitalize()}: new entries are refused from now on (switch set in Redis)."
    code = EXIT_OK
    if not working:
        out.update(entries_cancelled=[], ran_on="nothing to cancel")
        return Outcome(out, headline, code)
    kwargs = {"reason": reason, "who": who, "strategy": strategy}
    try:
        result, where = run_control(ready, q.HALT, kwargs, local, timeout)
    except ControlExit as exc:  # the switch is set; only cancelling the working entries did not happen
        out.update(entries_not_cancelled=[o.clOrdId for o in working], ran_on="")
        n = len(working)
        raise PartlyDone(
            f"{what} (the switch is set), but {n} working {'entry was' if n == 1 else 'entries were'} "
            f"not cancelled: {exc}",
            exc.code,
            Outcome(out, headline, exc.code),
        ) from None
    out.update(
        entries_cancelled=result.get("entries_cancelled", []), failed=result.get("failed", []), ran_on=where
    )
    return Outcome(out, headline, EXIT_OK if result.get("ok", True) else EXIT_FAILED)


def do_resume(ready: Ready, who: str, strategy: str | None = None) -> Outcome:
    """Clear the halt (or one strategy's pause) in Redis; needs only Redis."""
    from athena.risk.halt import HaltSwitch
    from athena.state.keys import Keys
    from athena.strategies.pause import StrategyPause

    settings = ready.settings
    keys = Keys(settings.env, settings.account)
    if strategy:
        pause = StrategyPause(ready.redis, keys)
        changed = pause.resume(strategy, who=who)
        out = {"strategy": strategy, "paused": False, "changed": changed, "all_paused": pause.paused()}
        return Outcome(
            out, f"Strategy {strategy} resumed." if changed else f"Strategy {strategy} was not paused."
        )
    resumed = HaltSwitch(ready.redis, keys).resume(who=who)
    return Outcome(
        {"halted": False, "resumed": resumed}, "Trading resumed." if resumed else "Trading was not halted."
    )


# -- the commands --------------------------------------------------------------------------------------
def _common(parser: argparse.ArgumentParser, timeout: float = 60.0) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--local",
        action="store_true",
        help="when no orders worker is running, do it in this process (same code as the worker)",
    )
    parser.add_argument("--timeout", type=float, default=timeout, help="seconds to wait for the worker")


def _show(outcome: Outcome, as_json: bool) -> int:
    _print(outcome.out, as_json, outcome.headline)
    return outcome.code


@command("reconcile")
def reconcile_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="athena reconcile", description="ledger and orders vs the exchange (privileged)"
    )
    _common(p)
    a = p.parse_args(argv)
    ready = preflight(_settings())
    return _show(do_reconcile(ready, a.local, a.timeout), a.json)


@command("flatten")
def flatten_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="athena flatten", description="halt, cancel all, close positions (privileged)"
    )
    p.add_argument("--inst-id", default=None)
    p.add_argument("--reason", default="manual flatten from the CLI")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _common(p)
    a = p.parse_args(argv)
    settings = _settings()
    ready = preflight(settings)
    if not a.yes and sys.stdin.isatty():
        answer = input(
            f"Flatten {a.inst_id or 'EVERYTHING'} on account {settings.account} ({settings.mode})? [y/N] "
        )
        if answer.strip().lower() != "y":
            print("aborted")
            return EXIT_FAILED
    return _show(do_flatten(ready, a.inst_id, a.reason, a.local, a.timeout), a.json)


@command("halt")
def halt_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="athena halt",
        description="stop new entries everywhere (privileged); "
        "works without workers: the switch is set in Redis directly",
    )
    p.add_argument("--reason", default="manual halt")
    p.add_argument("--strategy", help="pause only this strategy: no new entries, its exits still run")
    _common(p, timeout=20.0)
    a = p.parse_args(argv)
    settings = _settings()
    if a.strategy:
        strategy_known(settings, a.strategy)
    ready = preflight(settings)
    try:
        return _show(do_halt(ready, a.reason, "cli", a.strategy, a.local, a.timeout), a.json)
    except PartlyDone as exc:
        _show(exc.done, a.json)
        raise


@command("resume")
def resume_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="athena resume", description="allow new entries again (privileged)")
    p.add_argument("--strategy", help="resume only this strategy (clears its pause, not a global halt)")
    p.add_argument("--json", action="store_true", help="print JSON")
    a = p.parse_args(argv)
    settings = _settings()
    if a.strategy:
        strategy_known(settings, a.strategy)
    return _show(do_resume(preflight(settings), "cli", a.strategy), a.json)


def config_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="athena config", description="validate and print the configuration")
    p.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"athena: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(settings.model_dump_json(indent=2))  # SecretStr fields print as '**********'
    return EXIT_OK


def status_main(argv: list[str]) -> int:
    from athena.process.status import status_main as main

    return main(argv)
