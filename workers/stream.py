"""The stream worker: `celery -A workers.stream worker -Q stream -P solo -n stream@%h`.

A bootstep starts the StreamService (public + private WebSockets, the Redis event reader and the
single dispatcher thread running the strategies) when the worker starts and stops it gracefully on
worker shutdown. It is an ordinary Celery worker, so Flower shows it, and it answers the remote
control command `athena_stream_status` (`celery -A workers.stream inspect athena_stream_status`).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from celery import bootsteps
from celery.worker.control import inspect_command

from athena.config import get_settings
from athena.stream_service import StreamService
from workers.app import make_app
from workers.sender import CelerySender

# Its own app instance (same broker and config): the bootstep below belongs to the stream worker
# only. On the shared workers.app.app, importing this module would make every worker started in
# the same process (tests, tools) run the stream service too. No task bodies: it consumes the
# `stream` control queue and sends order tasks by name.
app = make_app(include=[])

log = logging.getLogger(__name__)

_service: StreamService | None = None


class StreamStep(bootsteps.StartStopStep):  # type: ignore[misc]
    requires: ClassVar[set[str]] = {"celery.worker.components:Pool"}

    def start(self, worker: Any) -> None:
        global _service
        settings = get_settings()
        _service = StreamService(settings, CelerySender(app)).start()

    def stop(self, worker: Any) -> None:
        global _service
        if _service is not None:
            log.info("stream worker stopping: closing WebSockets and the dispatcher")
            _service.stop()
            _service = None


app.steps["worker"].add(StreamStep)


@inspect_command(name="athena_stream_status")  # type: ignore[misc]
def athena_stream_status(state: Any) -> dict[str, Any]:
    """Strategies, tick counts, WebSocket states of this stream worker."""
    return _service.status() if _service is not None else {"running": False}


__all__ = ["app"]
