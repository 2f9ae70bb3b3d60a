"""The watcher: a side thread per worker that samples, every second, the conditions that are about time.

orders worker: open positions against their exchange stops (athena_position_unprotected_seconds_total,
and an alert once one has been uncovered for alerts.unprotected_after_s), orders whose outcome has been
unknown for alerts.ambiguous_after_s, and the other workers' heartbeats.
stream worker: its WebSockets (an alert once one has been down for alerts.ws_down_after_s) and the
other workers' heartbeats.

It reads Redis and the stream worker's in-memory status; it never runs on the dispatcher or in a task,
and a failed sample is logged once and tried again a second later.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from athena import alerts
from athena.alerts import events
from athena.bus import EventBus
from athena.domain import OrderState
from athena.engine import Account
from athena.observe.collect import ExchangeStops, coverage
from athena.observe.metrics import UNPROTECTED_SECONDS
from athena.oms.positions import PositionManager
from athena.queues import AccountQueues
from athena.state.workers import WorkerRegistry, identity_of

log = logging.getLogger(__name__)

Role = Literal["orders", "stream"]
INTERVAL_S = 1.0
MAX_STEP_S = 5.0  # a stalled sampler does not book its whole stall as unprotected time


class Watcher:
    def __init__(
        self,
        role: Role,
        acct: Account,
        *,
        status: Callable[[], dict[str, Any] | None] | None = None,
        stops: ExchangeStops | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.role = role
        self.acct = acct
        self.stops = stops or ExchangeStops(acct, None)
        self.cfg = acct.settings.alerts
        self.status = status
        self.clock = clock
        self.wall = wall
        self.ledger = PositionManager(acct.redis, acct.keys, EventBus(), subscribe=False, clock=acct.clock)
        self.registry = WorkerRegistry(acct.redis, clock=wall)
        self.queues = AccountQueues(acct.settings.account)
        self.identity = "/".join(identity_of(acct.settings)[x] for x in ("env", "account", "mode", "key"))
        self.me = (socket.gethostname(), os.getpid())
        self.uncovered_since: dict[str, float] = {}
        self.down_since: dict[str, float] = {}
        self._last: float | None = None
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Watcher:
        self._thread = threading.Thread(target=self._run, name=f"athena-watch-{self.role}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            try:
                self.sample()
                self._failing = False
            except Exception:
                if not self._failing:
                    log.warning("watcher (%s): sample failed; retried every second", self.role, exc_info=True)
                self._failing = True

    def sample(self) -> None:
        now = self.clock()
        step = 0.0 if self._last is None else min(MAX_STEP_S, max(0.0, now - self._last))
        self._last = now
        if self.role == "orders":
            self._positions(now, step)
            self._ambiguous()
        else:
            self._websockets(now)
        self._heartbeats()

    def _positions(self, now: float, step: float) -> None:
        uncovered = {
            inst: (size, by_stops)
            for inst, (size, by_stops) in coverage(self.acct, self.ledger, self.stops).items()
            if by_stops < size
        }
        for inst in list(self.uncovered_since):
            if inst not in uncovered:
                del self.uncovered_since[inst]
        for inst, (size, by_stops) in uncovered.items():
            since = self.uncovered_since.setdefault(inst, now)
            if step:
                UNPROTECTED_SECONDS.inc(step)
            if now - since >= self.cfg.unprotected_after_s:
                alerts.emit(events.unprotected(inst, now - since, str(size), str(by_stops)))

    def _ambiguous(self) -> None:
        now_ms = self.wall() * 1000
        for o in self.acct.store.working():
            if (
                o.state is OrderState.AMBIGUOUS
                and now_ms - (o.uTime or o.cTime) >= self.cfg.ambiguous_after_s * 1000
            ):
                alerts.emit(events.ambiguous(o.clOrdId, o.instId, (now_ms - (o.uTime or o.cTime)) / 1000))

    def _websockets(self, now: float) -> None:
        st = self.status() if self.status is not None else None
        if st is None:
            return
        for conn, w in (st.get("ws") or {}).items():
            if w.get("state") == "ready":
                self.down_since.pop(conn, None)
                continue
            since = self.down_since.setdefault(conn, now)
            if now - since >= self.cfg.ws_down_after_s:
                alerts.emit(events.ws_down(conn, now - since, str(w.get("state"))))

    def _heartbeats(self) -> None:
        now_ms = int(self.wall() * 1000)
        for e in self.registry.entries(self.queues.all, include_stale=True):
            if e.identity != self.identity or (e.host, e.pid) == self.me:
                continue
            age_s = e.age_ms(now_ms) / 1000
            if age_s >= self.cfg.heartbeat_stale_after_s:
                alerts.emit(events.heartbeat_stopped(e.node, e.queue, age_s))
