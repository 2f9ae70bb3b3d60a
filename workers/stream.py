"""The stream worker: `celery -A workers.stream worker -Q stream.<account> -P solo -n stream-<account>@%h`.

A bootstep starts the StreamService (public + private WebSockets, the Redis event reader and the
single dispatcher thread running the strategies) when the worker starts and stops it gracefully on
worker shutdown. It is an ordinary Celery worker, so Flower shows it, and it answers the remote
control command `athena_stream_status` (`celery -A workers.stream inspect athena_stream_status`).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from celery import Celery, bootsteps
from celery.worker.control import inspect_command

from athena.config import Settings, get_settings
from athena.engine import Account
from athena.observe.server import Monitoring
from athena.observe.server import start as start_monitoring
from athena.okx.port import ExchangePort
from athena.ops.direct_stops import DirectStopSender
from athena.ops.preflight import preflight_at_start
from athena.process.stream_service import StreamService
from athena.wiring import account, okx_rest, stream_engine
from workers.app import make_app
from workers.sender import CelerySender

# Its own app instance (same broker and config): the bootstep below belongs to the stream worker
# only. On the shared workers.app.app, importing this module would make every worker started in
# the same process (tests, tools) run the stream service too. No task bodies: it consumes the
# `stream` control queue and sends order tasks by name.
app = make_app(include=[])

log = logging.getLogger(__name__)

_service: StreamService | None = None
_monitoring: Monitoring | None = None


def build_service(
    settings: Settings, celery_app: Celery, acct: Account | None = None, rest: ExchangePort | None = None
) -> StreamService:
    """The stream worker's StreamService: orders and cancels go out as Celery tasks, a fill's stop
    straight from here (athena.ops.direct_stops), with submit_stop_loss as its backstop."""
    sender = DirectStopSender(CelerySender(celery_app))
    engine = stream_engine(acct or account(settings), sender, rest)
    sender.bind(lambda: engine)
    return StreamService(engine)


def _direct_stops(service: StreamService) -> DirectStopSender | None:
    sender = service.engine.sender
    return sender if isinstance(sender, DirectStopSender) else None


class StreamStep(bootsteps.StartStopStep):  # type: ignore[misc]
    # after the queue claim: a worker refused its queues never opens the account's WebSockets
    requires: ClassVar[set[str]] = {"celery.worker.components:Pool", "workers.claim:QueueClaim"}

    def start(self, worker: Any) -> None:
        global _service, _monitoring
        settings = get_settings()
        acct, rest = account(settings), okx_rest(settings)
        # Before the engine loads the instruments, so it reads the specs the pre-flight refreshed. A
        # refusal holds entries; what is open is still managed.
        preflight_at_start(acct, rest)
        _service = build_service(settings, app, acct, rest).start()
        try:  # its metrics endpoint (WebSockets, ticks), alerts and watcher; never stops trading
            _monitoring = start_monitoring("stream", acct, status=_status)
        except Exception:
            log.exception("stream worker monitoring not started")

    def stop(self, worker: Any) -> None:
        global _service, _monitoring
        if _monitoring is not None:
            _monitoring.close()
            _monitoring = None
        if _service is not None:
            log.info("stream worker stopping: closing WebSockets and the dispatcher")
            _service.stop()
            stops = _direct_stops(_service)
            if stops is not None:
                stops.close()
            _service = None


app.steps["worker"].add(StreamStep)


def _status() -> dict[str, Any] | None:
    service = _service
    return service.status() if service is not None else None


@inspect_command(name="athena_stream_status")  # type: ignore[misc]
def athena_stream_status(state: Any) -> dict[str, Any]:
    """Strategies, tick counts, WebSocket states of this stream worker."""
    if _service is None:
        return {"running": False}
    stops = _direct_stops(_service)
    return {**_service.status(), "direct_stops": stops.status() if stops is not None else None}


__all__ = ["app"]
