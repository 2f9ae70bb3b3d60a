"""The Celery app, configured from Settings.

Queues: ``orders`` (placement, stops, cancels; single-writer per account), ``stream`` (the stream
worker's control queue) and ``default`` (periodic jobs). acks_late + prefetch 1 + reject on worker
loss: a task whose worker dies is redelivered, and every task is idempotent so that is safe.

The orders worker runs the threads pool (`-P threads -c 4`), not prefork: its tasks wait on the
network, not the CPU; one process holds one client-side OKX rate limiter per account (each prefork
child had its own, so two children could together send twice OKX's limit); the hand-off from the
consumer to a thread is cheaper than prefork's pipe to a child (order latency); and one process
takes ~100 MB instead of ~280 MB of RSS for a parent and two children. Celery's time limits are
not enforced by the threads pool: every blocking call in a task carries its own timeout instead
(REST read timeout, Redis socket_timeout=5, the placement lease wait), which is what bounds it.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, worker_init
from kombu import Queue

from athena.config import Settings, get_settings
from workers.broker_transport import install as install_broker_transport

install_broker_transport()  # redis:// brokers: kombu's transport with one client per channel

TASK_ROUTES = {
    "athena.place_order": {"queue": "orders"},
    "athena.submit_stop_loss": {"queue": "orders"},
    "athena.cancel_order": {"queue": "orders"},
    "athena.amend_order": {"queue": "orders"},
    "athena.flatten": {"queue": "orders"},
    "athena.*": {"queue": "default"},
}


def configure(app: Celery, settings: Settings) -> Celery:
    url = settings.redis_url.get_secret_value()
    app.conf.update(
        broker_url=url,
        result_backend=url,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_queues=(Queue("orders"), Queue("stream"), Queue("default")),
        task_default_queue="default",
        task_routes=TASK_ROUTES,
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
        broker_transport_options={"visibility_timeout": settings.schedule.visibility_timeout},
        result_backend_transport_options={"visibility_timeout": settings.schedule.visibility_timeout},
        timezone="UTC",
        enable_utc=True,
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
    return configure(app, settings or get_settings())


@worker_init.connect
def _freeze_gc(**_: Any) -> None:
    # Before a prefork pool forks (beat, or a worker started with -P prefork): objects loaded so far leave the collector's generations, so
    # its passes in the children do not write to (and un-share) the pages they inherited.
    gc.freeze()


app = make_app()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_secrets(logger: Any = None, **_: Any) -> None:
    """Every worker and beat log handler Celery sets up drops secret values (keys, Redis password)."""
    from athena.logs import install_redaction

    try:
        secrets = get_settings().secrets()
    except Exception:  # bad config: start-up fails elsewhere with the message naming the key
        return
    install_redaction(secrets, logger)
