"""How the OMS reaches the exchange: the OrderSender protocol and an in-memory RecordingSender.

Senders are fire-and-forget from the OMS's point of view: the outcome comes back later as an
OrderUpdate (REST ack, WS push, sync) through OrderManager.on_update. A sender that raises means the
outcome of that send is unknown (the OMS marks the order AMBIGUOUS), never "not sent".

Implementations: the Celery sender in the stream worker (enqueue a task), direct engine calls in the
backtest, RecordingSender in tests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, runtime_checkable

from athena.domain import OrderRequest
from athena.oms.stops import StopRequest


@runtime_checkable
class OrderSender(Protocol):
    def send_order(self, req: OrderRequest) -> None:
        """Place req under its clOrdId. Re-sending the same clOrdId must never double the order."""

    def send_cancel(self, instId: str, clOrdId: str) -> None:
        """Cancel the order; the final state arrives as an OrderUpdate."""

    def send_stop(self, stop: StopRequest) -> None:
        """Ensure the exchange stop stop.algoClOrdId exists and covers at least stop.sz: place it
        when absent, amend it up when smaller, never shrink it (idempotent). stop.exact: amend it
        to exactly stop.sz, also down (the position shrank)."""

    def send_cancel_stop(self, instId: str, algoClOrdId: str) -> None:
        """Cancel the exchange stop (absent/already final is success)."""


class SendFailed(RuntimeError):
    """Raised by RecordingSender.fail_next: the send's outcome is unknown."""


@dataclass
class RecordingSender:
    """A real in-memory OrderSender: keeps every call, in order, and the latest stop per id.

    `fail_next` makes the next send_* raise SendFailed (after recording nothing), to exercise the
    AMBIGUOUS path.
    """

    orders: list[OrderRequest] = field(default_factory=list)
    cancels: list[tuple[str, str]] = field(default_factory=list)
    stops: list[StopRequest] = field(default_factory=list)
    stop_cancels: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _maybe_fail(self, what: str) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise SendFailed(f"injected failure on {what}")

    def send_order(self, req: OrderRequest) -> None:
        with self._lock:
            self._maybe_fail(f"send_order {req.clOrdId}")
            self.orders.append(req)

    def send_cancel(self, instId: str, clOrdId: str) -> None:
        with self._lock:
            self._maybe_fail(f"send_cancel {clOrdId}")
            self.cancels.append((instId, clOrdId))

    def send_stop(self, stop: StopRequest) -> None:
        with self._lock:
            self._maybe_fail(f"send_stop {stop.algoClOrdId}")
            self.stops.append(stop)

    def send_cancel_stop(self, instId: str, algoClOrdId: str) -> None:
        with self._lock:
            self._maybe_fail(f"send_cancel_stop {algoClOrdId}")
            self.stop_cancels.append((instId, algoClOrdId))

    # -- views for tests and the backtest ------------------------------------------------------
    def sent_ids(self) -> list[str]:
        return [r.clOrdId for r in self.orders]

    def latest_stop(self, algoClOrdId: str) -> StopRequest | None:
        for stop in reversed(self.stops):
            if stop.algoClOrdId == algoClOrdId:
                return stop
        return None

    def stop_size(self, algoClOrdId: str) -> Decimal | None:
        """The size this stop has after every request so far (never shrunk except by an exact
        resize), None if never asked."""
        size: Decimal | None = None
        for s in self.stops:
            if s.algoClOrdId == algoClOrdId:
                size = s.sz if s.exact or size is None else max(size, s.sz)
        return size
