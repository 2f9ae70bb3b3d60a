"""The OrderSender of a control run in the operator's own process (`athena reconcile|flatten --local`
with no orders worker up): each send runs the same athena.ops code the orders worker's task would
run, here and now, instead of queueing a task nobody takes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from athena.domain import OrderRequest
from athena.okx.errors import OkxRejected
from athena.oms.stops import StopRequest

if TYPE_CHECKING:
    from athena.engine import Engine

log = logging.getLogger(__name__)


class InProcessSender:
    def __init__(self, engine: Callable[[], Engine]) -> None:
        self._engine = engine

    def send_order(self, req: OrderRequest) -> None:
        from athena.ops import placement

        placement.place(self._engine(), req)

    def send_cancel(self, instId: str, clOrdId: str) -> None:
        eng = self._engine()
        try:
            eng.rest.cancel_order(instId, clOrdId=clOrdId)
        except OkxRejected:  # already final or unknown: the exchange's word settles our record
            found = eng.rest.get_order(instId, clOrdId=clOrdId)
            if found is not None:
                eng.orders.on_update(found)

    def send_stop(self, stop: StopRequest) -> None:
        from athena.ops import stops

        stops.ensure_stop(self._engine(), stop)

    def send_cancel_stop(self, instId: str, algoClOrdId: str) -> None:
        from athena.ops import stops

        stops.cancel_stop(self._engine(), instId, algoClOrdId)
