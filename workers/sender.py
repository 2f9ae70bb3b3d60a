"""The OrderSender the stream worker uses: each send is a Celery task on the `orders` queue.

Tasks are sent by name so this module does not import the task bodies (or their REST clients).
The clOrdId travels inside the request, so a resend or a redelivery names the same order.
"""

from __future__ import annotations

from celery import Celery

from athena.domain import OrderRequest
from athena.domain.codec import to_json
from athena.oms.stops import StopRequest


def _repr(*fields: object) -> str:
    """The task's argsrepr (what Flower and the worker log show): Celery's own saferepr of the
    request dict cost ~0.7 ms per send on the order path."""
    return " ".join(str(f) for f in fields)


class CelerySender:
    """ignore_result: the outcome travels through Redis (order state, the event stream), never the
    result backend; asking for a result cost a pub/sub subscription per send (~0.3 ms of the order
    latency) and a result write in the worker."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def send_order(self, req: OrderRequest) -> None:
        self.app.send_task("athena.place_order", args=[to_json(req)], queue="orders", ignore_result=True,
                           argsrepr=_repr(req.clOrdId, req.instId, req.side, req.sz, req.px))

    def send_cancel(self, instId: str, clOrdId: str) -> None:
        self.app.send_task("athena.cancel_order", args=[instId, clOrdId], queue="orders", ignore_result=True)

    def send_stop(self, stop: StopRequest) -> None:
        self.app.send_task("athena.submit_stop_loss", args=[to_json(stop)], queue="orders", ignore_result=True,
                           argsrepr=_repr(stop.algoClOrdId, stop.instId, stop.side, stop.sz, stop.slTriggerPx))

    def send_cancel_stop(self, instId: str, algoClOrdId: str) -> None:
        self.app.send_task("athena.cancel_stop", args=[instId, algoClOrdId], queue="orders", ignore_result=True)

    def send_reconcile(self) -> None:
        # After a private WS (re)login: pushes sent while it was down are lost; REST settles them.
        self.app.send_task("athena.reconcile", queue="default", expires=60)
