"""A live heartbeat of an account's orders worker without the worker (athena.state.workers)."""

from __future__ import annotations

import threading

from athena.process.launch import Stack
from athena.state.workers import WorkerRegistry, identity_of


class FakeWorker:
    """A live heartbeat of this account's orders worker, without the worker (one that hangs, or the
    registry's view of a worker that is about to die): the CLI believes a worker will answer."""

    def __init__(self, stack: Stack) -> None:
        self.registry = WorkerRegistry(stack.redis())
        self.identity = identity_of(stack.settings())
        self.queues = list(stack.queues.for_worker("orders"))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.registry.register(self.queues, "fake-orders@test", "orders", self.identity)
            except Exception:
                pass
            self._stop.wait(1.0)

    def __enter__(self) -> FakeWorker:
        self.registry.register(self.queues, "fake-orders@test", "orders", self.identity)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        try:
            self.registry.release(self.queues, "fake-orders@test")
        except Exception:
            pass
