"""A worker takes its queues only if they are its account's and no live worker of another deployment
consumes them (athena.state.workers); then it keeps its registration fresh while it runs.

Why a registration in Redis rather than asking the broker (`inspect active_queues`) at start-up: the
check and the claim are one atomic step, so two workers of different accounts started together cannot
both pass; a broadcast waits a fixed second for replies and misses a worker that is busy or still
starting. The heartbeat is also what `athena status` and the controls' preflight read.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any, ClassVar

from celery import bootsteps

from athena.config import get_settings
from athena.queues import AccountQueues
from athena.state.workers import HEARTBEAT_S, QueueConflict, WorkerRegistry, identity_of

log = logging.getLogger(__name__)

EXIT_REFUSED = os.EX_CONFIG  # 78: a configuration problem; a process manager shows it as such


def _refuse(message: str) -> None:
    log.critical("%s", message)
    print(f"athena worker: {message}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_REFUSED)


def worker_role(queues: list[str], mine: AccountQueues) -> str:
    if queues == [mine.stream]:
        return "stream"
    return "research" if queues == [mine.research] else "orders"


class QueueClaim(bootsteps.StartStopStep):  # type: ignore[misc]
    """Runs before the consumer (Celery starts its Consumer step last), so a refused worker never
    takes a message."""

    name = "workers.claim.QueueClaim"
    label = "athena queue claim"
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._registry: WorkerRegistry | None = None
        self._queues: list[str] = []
        self._node = ""

    def start(self, worker: Any) -> None:
        from athena.wiring import redis_from_settings

        settings = get_settings()
        mine = AccountQueues(settings.account)
        self._queues = sorted(worker.app.amqp.queues.consume_from or {q.name: q for q in mine.kombu_queues()})
        foreign = [q for q in self._queues if q not in mine.all]
        if foreign:
            _refuse(
                f"queue(s) {', '.join(foreign)} are not account {settings.account}'s "
                f"({', '.join(mine.all)}); start it with -Q {','.join(mine.for_worker('orders'))} "
                f"(orders worker), -Q {mine.stream} (stream worker) or -Q {mine.research} (research worker), "
                f"or set ATHENA_ACCOUNT."
            )
        only = tuple(worker.app.conf.get("athena_only_queues") or ())
        if only and set(self._queues) - set(only):
            _refuse(
                f"this app's worker consumes {', '.join(only)} only (it would lose any other queue's tasks "
                f"as unknown); start it with -Q {','.join(only)}."
            )
        self._node = worker.hostname
        identity = identity_of(settings)
        role = worker_role(self._queues, mine)
        self._registry = WorkerRegistry(redis_from_settings(settings))
        started = int(time.time() * 1000)
        try:
            self._registry.register(self._queues, self._node, role, identity, started)
        except QueueConflict as exc:
            other = exc.other
            who = (
                f"account {other.account}, env {other.env}, mode {other.mode}"
                if other
                else "another deployment"
            )
            _refuse(
                f"{exc} ({who}; this worker is account {settings.account}, env {settings.env}, mode "
                f"{settings.mode}"
                f"{', another API key' if other and other.account == settings.account else ''}); "
                "its workers would take this account's tasks or the other way round. Stop them, or "
                "give this "
                f"deployment its own ATHENA_ACCOUNT."
            )
        log.info("registered %s on %s as account %s", self._node, ", ".join(self._queues), settings.account)

        def beat() -> None:
            failing = False
            while not self._stop.wait(HEARTBEAT_S):
                try:
                    self._registry.register(self._queues, self._node, role, identity, started)  # type: ignore[union-attr]
                    failing = False
                except QueueConflict as exc:
                    log.error(
                        "%s: another deployment registered on this worker's queues while it was away", exc
                    )
                except Exception as exc:
                    if not failing:
                        log.warning(
                            "worker heartbeat not written (%s); retrying every %.0f s",
                            type(exc).__name__,
                            HEARTBEAT_S,
                        )
                    failing = True

        self._thread = threading.Thread(target=beat, name="athena-worker-heartbeat", daemon=True)
        self._thread.start()

    def stop(self, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        if self._registry is not None:
            try:
                self._registry.release(self._queues, self._node)
            except Exception:
                pass  # its entry goes stale by itself

    def shutdown(self, worker: Any) -> None:
        self.stop(worker)
