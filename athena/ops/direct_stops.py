"""The stream worker's OrderSender: a fill's stop goes to the exchange from the stream worker itself.

Rule 3 of docs/DESIGN_RULES.md (every fill covered by a stop) is the one place where milliseconds are
risk: between the fill and the exchange-side stop the position is unprotected. Through Celery the stop
waits for the broker hop and for an orders worker often still busy with the entry's own ack. Here
the dispatcher hands the StopRequest to one side thread (never blocking the tick path), which runs
the very same idempotent `ensure_stop` the submit_stop_loss task runs. Anything but success (a
refusal, a timeout, a rate limit, no connection) hands the stop to submit_stop_loss, whose retries,
backoff and stop_failed events apply; after a failure the next stops go straight to
Celery for a while instead of queueing behind a struggling connection. protect_positions (beat)
remains the proof that every position is covered.

OKX's limit for order-algo is 20 per 2 s per instrument and account, shared with the orders worker;
each process has its own client-side limiter, and a 50011 from the exchange is just another
failure handed to the task (which backs off).

The same thread cancels a position's stops the moment the stream worker sees it flat (a positions
push, or a fill that leaves the shadow ledger flat): it reads which stops are the position's
(OrderManager.on_position) and hands each cancel to the cancel_stop task, so neither the Redis reads
nor the REST calls run on the dispatcher, and a flat seen before a new entry's fill is handled
before that entry's stop is placed (one queue, in order). cancel_ghost_orders (beat) stays the
backstop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from athena.domain import Fill, OrderRequest, Position
from athena.engine import Engine
from athena.observe.metrics import observe_stop_ack
from athena.oms.sender import OrderSender
from athena.oms.stops import StopRequest
from athena.ops.stops import ensure_stop

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Queued:
    stop: StopRequest
    at: float  # when the dispatcher asked for it (the fill's arrival), on the sender's clock


DEGRADED_S = 5.0  # after a failed direct placement, stops go through Celery for this long
CANCEL_REPEAT_S = 5.0  # a stop's cancel asked again within this is not sent twice (push + fill + sync)


class DirectStopSender:
    def __init__(
        self,
        fallback: OrderSender,
        engine: Callable[[], Engine] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fallback = fallback
        self._engine = engine
        self._clock = clock
        self._queue: queue.SimpleQueue[_Queued | Position | Fill | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._degraded_until = 0.0
        self.placed = 0  # stops the exchange accepted from here
        self.handed_over = 0  # stops given to submit_stop_loss (failure or degraded)
        self.flat_cancels = 0  # stop cancels sent because their position was seen flat
        self._cancels_sent = 0
        self._cancel_asked: dict[tuple[str, str], float] = {}

    def bind(self, engine: Callable[[], Engine]) -> DirectStopSender:
        """The engine is built with this sender, so it is bound after (a getter)."""
        self._engine = engine
        return self

    # -- OrderSender -----------------------------------------------------------------------------
    def send_order(self, req: OrderRequest) -> None:
        self.fallback.send_order(req)

    def send_cancel(self, instId: str, clOrdId: str) -> None:
        self.fallback.send_cancel(instId, clOrdId)

    def send_cancel_stop(self, instId: str, algoClOrdId: str) -> None:
        now = self._clock()
        with self._lock:
            asked = self._cancel_asked.get((instId, algoClOrdId))
            if asked is not None and now - asked < CANCEL_REPEAT_S:
                return  # in flight already: the cancel_stop task settles it
            self._cancel_asked = {k: t for k, t in self._cancel_asked.items() if now - t < CANCEL_REPEAT_S}
            self._cancel_asked[(instId, algoClOrdId)] = now
            self._cancels_sent += 1
        self.fallback.send_cancel_stop(instId, algoClOrdId)

    def send_reconcile(self) -> None:
        send = getattr(self.fallback, "send_reconcile", None)
        if send is not None:
            send()

    def send_stop(self, stop: StopRequest) -> None:
        if self._engine is None or self._clock() < self._degraded_until:
            self._hand_over(stop, "direct placement paused")
            return
        self._start()
        self._queue.put(_Queued(stop, self._clock()))

    # -- a position seen flat: its stops go ------------------------------------------------------
    def on_position(self, pos: Position) -> None:
        """A position report (WS push or a sync's): when flat, its stops are cancelled."""
        if pos.is_flat and self._engine is not None:
            self._start()
            self._queue.put(pos)

    def on_fill(self, fill: Fill) -> None:
        """A fill: if it left the shadow ledger flat (a close, a take profit, a triggered stop), the
        position's remaining stops are cancelled without waiting for the positions push."""
        if self._engine is not None:
            self._start()
            self._queue.put(fill)

    # -- the side thread -------------------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="stop-sender", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, Position | Fill):
                self._cancel_if_flat(item)
                continue
            stop = item.stop
            if self._clock() < self._degraded_until:
                self._hand_over(stop, "direct placement paused")
                continue
            try:
                assert self._engine is not None
                outcome = ensure_stop(self._engine(), stop)
                self.placed += 1
                if outcome.status in ("placed", "amended"):  # from the fill's arrival to the exchange's ack
                    observe_stop_ack(self._clock() - item.at)
                log.debug("stop %s: %s directly", stop.algoClOrdId, outcome.status)
            except Exception as exc:
                self._degraded_until = self._clock() + DEGRADED_S
                self._hand_over(stop, f"{type(exc).__name__}: {exc}")

    def _cancel_if_flat(self, seen: Position | Fill) -> None:
        try:
            assert self._engine is not None
            engine = self._engine()
            if isinstance(seen, Fill):
                # the ledger already holds this fill (booked on the bus before it got here)
                if engine.positions.expected(seen.instId, seen.posSide).sz != 0:
                    return
                seen = Position(
                    seen.instId, seen.posSide, Decimal(0), None, uTime=seen.ts or int(time.time() * 1000)
                )
            before = self._cancels_sent
            touched = engine.orders.on_position(seen)
            sent = (
                self._cancels_sent - before
            )  # not those already asked for (push, fill and sync all say flat)
            if sent:
                self.flat_cancels += sent
                log.info("%s %s flat: cancelling its stops %s", seen.instId, seen.posSide, touched)
        except Exception:  # cancel_ghost_orders (beat) removes them later
            log.exception("stops of flat %s %s not cancelled", seen.instId, seen.posSide)

    def _hand_over(self, stop: StopRequest, why: str) -> None:
        log.warning(
            "stop %s for %s: %s; handing it to submit_stop_loss", stop.algoClOrdId, stop.entryClOrdId, why
        )
        self.handed_over += 1
        try:
            self.fallback.send_stop(stop)
        except Exception:  # the broker too: protect_positions (beat) places it from the exchange's positions
            log.exception("stop %s: submit_stop_loss could not be sent either", stop.algoClOrdId)

    def close(self, timeout: float = 5.0) -> None:
        """Let queued stops go out, then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def status(self) -> dict[str, Any]:
        return {
            "placed": self.placed,
            "handed_over": self.handed_over,
            "flat_cancels": self.flat_cancels,
            "degraded": self._clock() < self._degraded_until,
        }
