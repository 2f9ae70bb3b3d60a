"""The Celery app, configured from Settings.

Queues (names in athena/queues.py, each carrying the account): ``orders.<account>`` (placement,
stops, cancels, flatten, halt; single writer per account), ``stream.<account>`` (the stream worker's
control queue) and ``default.<account>`` (periodic jobs). Each is bound to an exchange of its own,
so several accounts share one broker. acks_late + prefetch 1 + reject on worker loss: a task whose
worker dies is redelivered, and every task is idempotent so that is safe.

The orders worker runs the threads pool (`-P threads -c 4`), not prefork: its tasks wait on the
network, not the CPU; one process holds one client-side OKX rate limiter per account (each prefork
child had its own, so two children could together send twice OKX's limit); the hand-off from the
consumer to a thread is cheaper than prefork's pipe to a child (order latency); and one process
takes ~100 MB instead of ~280 MB of RSS for a parent and two children. Celery's time limits are
not enforced by the threads pool: every blocking call in a task carries its own timeout instead
(REST read timeout, Redis socket_timeout=5, the placement lease wait), which is what bounds it.

Logging: every worker and beat log through athena.logs (Celery's `setup_logging` signal), at
ATHENA_LOG_LEVEL (an explicit --loglevel wins), as text or as JSON lines (ATHENA_LOG_FORMAT=json),
secrets redacted.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun, worker_init

from athena.broker import celery_conf
from athena.config import ConfigError, Settings, get_settings
from athena.fastpath import enabled
from athena.fastpath.kombu_transport import install as install_broker_transport
from athena.logs import set_log_context
from athena.queues import AccountQueues
from workers.claim import EXIT_REFUSED, QueueClaim
from workers.log_context import task_fields

if enabled("kombu_transport"):
    install_broker_transport()  # redis:// brokers: kombu's transport with one client per channel


def configure(app: Celery, settings: Settings) -> Celery:
    queues = AccountQueues(settings.account)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_queues=queues.kombu_queues(),
        task_default_queue=queues.default,
        task_default_exchange=queues.default,
        task_default_routing_key=queues.default,
        task_routes=queues.routes(),
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        result_expires=3600,
        # No STARTED state write: it cost ~0.5 ms of Redis round trip before every task body (the
        # order latency), nothing reads it, and Flower sees task-started from worker events anyway.
        task_track_started=False,
        worker_send_task_events=True,  # Flower
        # No task-sent event: it was a second Redis publish (and ~0.3 ms of serialising) inside every
        # send from the stream worker, before the order could reach the orders worker. Flower lists
        # tasks from the workers' task-received/started/succeeded events.
        task_send_sent_event=False,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        enable_utc=True,
        **celery_conf(settings),
    )
    from beat_schedule import build_schedule

    app.conf.beat_schedule = build_schedule(settings)
    return app


def _includes() -> list[str]:
    # celery beat sends tasks by name: importing their bodies (Engine, SQLModel, the OKX client)
    # would only cost it ~35 MB of RAM.
    return [] if "beat" in sys.argv[1:] else ["workers.tasks"]


def make_app(settings: Settings | None = None, include: list[str] | None = None) -> Celery:
    app = Celery("athena", include=_includes() if include is None else include)
    app.steps["worker"].add(QueueClaim)
    return configure(app, settings or _settings_at_start())


def is_celery_process() -> bool:
    """This process is `celery ... worker|beat|flower` (not a test or a tool importing the app)."""
    return "celery" in Path(sys.argv[0]).parts[-2:] or Path(sys.argv[0]).name == "celery"


def _settings_at_start() -> Settings:
    """Settings, or, in a worker or beat, the configuration error as what it says and exit 78 (a bad
    strategy class or parameter included): no traceback for Celery to print."""
    try:
        return get_settings()
    except ConfigError as exc:
        if not is_celery_process():
            raise
        print(f"athena worker: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_REFUSED) from None


def queue_of(app: Celery, task: str) -> str:
    """The queue `task` is routed to by this app's configuration."""
    return str(app.conf.task_routes[task]["queue"])


@worker_init.connect
def _no_banner_in_json(sender: Any = None, **_: Any) -> None:
    """With JSON logs, the worker's ASCII banner (printed straight to the terminal) would break the
    one-object-per-line stream: one log line says what it said."""
    try:
        if get_settings().log_format != "json" or sender is None or not hasattr(sender, "quiet"):
            return
    except Exception:
        return
    import logging

    sender.quiet = True
    queues = sorted(sender.app.amqp.queues.consume_from or ())
    logging.getLogger(__name__).info(
        "celery worker %s starting: queues %s, pool %s",
        sender.hostname,
        ",".join(queues),
        getattr(sender.pool_cls, "__module__", sender.pool_cls),
    )


@worker_init.connect
def _freeze_gc(**_: Any) -> None:
    # Before a prefork pool forks (beat, or a worker started with -P prefork): objects loaded so far leave the
    # collector's generations, so its passes in the children do not write to (and un-share) the pages they
    # inherited.
    gc.freeze()


app = make_app()
# the orders worker's metrics endpoint, alerts and watcher (not the stream worker's app: make_app above)
from workers.monitoring import OrdersMonitoring  # noqa: E402 - after the app, which its module does not need

app.steps["worker"].add(OrdersMonitoring)
from workers.warmup import EngineWarmup  # noqa: E402 - as above

app.steps["worker"].add(EngineWarmup)


def _role() -> str:
    argv = sys.argv[1:]
    for role in ("beat", "flower"):
        if role in argv:
            return role
    if "workers.research" in argv:
        return "research"
    return "stream" if "workers.stream" in argv else "orders"


def _explicit_loglevel() -> bool:
    return any(a in ("-l", "--loglevel") or a.startswith("--loglevel=") for a in sys.argv[1:])


@setup_logging.connect
def _setup_logging(loglevel: Any = None, **_: Any) -> None:
    """Every worker's and beat's logging: ATHENA_LOG_LEVEL (unless --loglevel was given), text or JSON
    lines (ATHENA_LOG_FORMAT), every secret redacted. Connecting this signal replaces Celery's own
    set-up (its default level is WARNING, which hid every INFO line without --loglevel)."""
    import logging

    from athena.logs import configure_logging

    try:
        settings = get_settings()
    except Exception:  # bad config: start-up fails elsewhere with the message naming the key
        configure_logging(loglevel or logging.WARNING, "text", _role(), ())
        return
    level: Any = loglevel if (_explicit_loglevel() and loglevel) else settings.log_level
    configure_logging(level, settings.log_format, _role(), settings.secrets())


if is_celery_process() and any(cmd in sys.argv[1:] for cmd in ("worker", "beat", "flower")):
    # Before Celery sets logging up, it warns (e.g. about running as root) through the warnings
    # module: configured now, those lines come out in the chosen format too (JSON lines stay JSON).
    import logging as _logging

    _setup_logging(loglevel=None)
    _logging.captureWarnings(True)
    try:
        _json = get_settings().log_format == "json"
    except Exception:
        _json = False
    if _json:  # what Celery prints to stdout (beat's banner, "worker: Warm shutdown") becomes JSON lines too
        from athena.logs import stdout_to_log

        stdout_to_log(_logging.getLogger("celery.stdout"))


@task_prerun.connect
def _task_log_context(task: Any = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    set_log_context(task_fields(getattr(task, "name", ""), args or (), kwargs or {}))


@task_postrun.connect
def _task_log_context_end(**_: Any) -> None:
    set_log_context({})
