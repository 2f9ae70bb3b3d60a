"""The orders worker builds its Engine when it starts rather than on its first task, so the first order
does not wait for it: instruments loaded, the order WebSocket (okx.order_entry "ws") logged in.

Only in a `celery worker` process whose pool shares it (threads, solo): a prefork child builds its own
after the fork. A failure is logged and changes nothing: the first task builds the Engine as before.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, ClassVar

from celery import bootsteps

log = logging.getLogger(__name__)


class EngineWarmup(bootsteps.StartStopStep):  # type: ignore[misc]
    name = "workers.warmup.EngineWarmup"
    label = "athena engine warm-up"
    # after the queue claim: a refused worker builds nothing
    requires: ClassVar[tuple[str, ...]] = ("workers.claim:QueueClaim",)

    def start(self, worker: Any) -> None:
        from athena.config import get_settings
        from athena.queues import AccountQueues
        from workers.app import is_celery_process
        from workers.claim import worker_role

        if not is_celery_process() or "prefork" in str(getattr(worker, "pool_cls", "")):
            return
        queues = sorted(worker.app.amqp.queues.consume_from or ())
        if worker_role(queues, AccountQueues(get_settings().account)) != "orders":
            return
        threading.Thread(target=_build, name="engine-warmup", daemon=True).start()


def _build() -> None:
    from workers.tasks import engine

    try:
        engine()
    except Exception as exc:  # the exchange unreachable at start: the first task tries again
        log.warning("orders worker: engine not built at start (%s); the first task builds it", exc)
