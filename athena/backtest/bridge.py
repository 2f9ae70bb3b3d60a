"""The sim's matching engine as the OMS's exchange, in process: an OrderSender that calls Exchange
directly, and the Exchange's order/position/algo pushes fed back as OrderUpdates and Positions.

Calls and pushes are queued and drained after each event, like a network hop of zero latency:
the OMS and strategies are never re-entered from inside their own call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from athena.bus import EventBus, EventType
from athena.domain import AlgoState, OrderRequest
from athena.okx import parse
from athena.oms.stops import StopRequest
from athena.sim.exchange import Exchange

WANTED = frozenset(("orders", "positions", "orders-algo"))
MAX_STEPS = 100_000  # per drain: a runaway feedback loop is a bug, not a long backtest


class BacktestSender:
    """OrderSender over an in-process Exchange. Every call is queued; drain() runs them in order."""

    def __init__(self, exchange: Exchange) -> None:
        self.ex = exchange
        self.calls: deque[tuple[str, Any]] = deque()
        self.pushes: deque[tuple[str, dict[str, Any]]] = deque()
        exchange.set_wants(lambda channel, instId: channel in WANTED)
        exchange.add_listener(self._on_push)
        # set by Bridge.attach
        self.on_order_update: Callable[[Any], Any] = lambda u: None
        self.on_position: Callable[[Any], Any] = lambda p: None
        self.on_algo: Callable[[dict[str, Any]], Any] = lambda row: None
        self.on_stop_failed: Callable[[StopRequest, str], Any] = lambda s, m: None
        self.sent = 0
        self._replaced: set[str] = set()  # algoIds we cancelled only to re-place them bigger

    # -- OrderSender ---------------------------------------------------------------------------
    def send_order(self, req: OrderRequest) -> None:
        self.calls.append(("order", req))

    def send_cancel(self, instId: str, clOrdId: str) -> None:
        self.calls.append(("cancel", (instId, clOrdId)))

    def send_stop(self, stop: StopRequest) -> None:
        self.calls.append(("stop", stop))

    def send_cancel_stop(self, instId: str, algoClOrdId: str) -> None:
        self.calls.append(("cancel_stop", (instId, algoClOrdId)))

    # -- the loop ------------------------------------------------------------------------------
    def _on_push(self, channel: str, arg: dict[str, Any], data: list[dict[str, Any]]) -> None:
        for row in data:
            self.pushes.append((channel, row))

    def drain(self) -> None:
        for _ in range(MAX_STEPS):
            if self.pushes:
                self._push(*self.pushes.popleft())
            elif self.calls:
                self._call(*self.calls.popleft())
            else:
                return
        raise RuntimeError(f"backtest: more than {MAX_STEPS} exchange steps for one event")

    def _call(self, kind: str, arg: Any) -> None:
        self.sent += 1
        ex = self.ex
        if kind == "order":
            req: OrderRequest = arg
            item = ex.place_order(req.to_okx())
            if item.get("sCode") != "0":
                self.on_order_update(parse.order_rejected(req, item.get("sCode", ""), item.get("sMsg", "")))
            else:
                self.pushes.appendleft(
                    ("ack", {"item": item, "req": req})
                )  # the REST ack precedes the pushes
        elif kind == "cancel":
            instId, cl = arg
            ex.cancel_order({"instId": instId, "clOrdId": cl})  # outcome arrives as a push (or it had ended)
        elif kind == "stop":
            self._stop(arg)
        elif kind == "cancel_stop":
            instId, algo_cl = arg
            ex.cancel_algos([{"instId": instId, "algoClOrdId": algo_cl}])

    def _stop(self, stop: StopRequest) -> None:
        """Place the stop, or grow it (the sim has no amend-algo: cancel + re-place under the same id)."""
        ex = self.ex
        live = ex.algos.get(ex.algo_cl.get(stop.algoClOrdId, ""))
        if live is not None and live.state == "live":
            if live.sz is not None and live.sz >= stop.sz:
                return
            # the replacement keeps the algoClOrdId: its old self's "canceled" push must not reach the
            # AlgoStore, which never revives a final stop (then no later fill would grow it again)
            self._replaced.add(live.algoId)
            ex.cancel_algos([{"instId": stop.instId, "algoClOrdId": stop.algoClOrdId}])
        item = ex.place_algo(stop.to_okx())
        if item.get("sCode") != "0":
            self.on_stop_failed(stop, f"{item.get('sCode')} {item.get('sMsg')}")

    def _push(self, channel: str, row: dict[str, Any]) -> None:
        if channel == "ack":
            self.on_order_update(parse.order_ack(row["item"], row["req"]))
        elif channel == "orders":
            upd = parse.order_update(row)
            if not upd.clOrdId and row.get("algoClOrdId"):
                upd = replace(upd, clOrdId=row["algoClOrdId"])  # a triggered stop: its id names the owner
            self.on_order_update(upd)
        elif channel == "positions":
            self.on_position(parse.position(row))
        elif channel == "orders-algo":
            if row.get("algoId") in self._replaced and row.get("state") == "canceled":
                self._replaced.discard(row["algoId"])
                return
            self.on_algo(row)


def attach(sender: BacktestSender, stack: Any) -> None:
    """Connect the sender's outputs to the stack: OMS updates, position views, stop states."""
    bus: EventBus = stack.bus

    def on_position(pos: Any) -> None:
        stack.positions.on_exchange_position(pos)
        bus.publish(EventType.POSITION_UPDATE, pos)

    def on_algo(row: dict[str, Any]) -> None:
        cl = row.get("algoClOrdId") or ""
        if not cl:
            return
        state = AlgoState(row["state"]) if row.get("state") in AlgoState._value2member_map_ else None
        if state is not None:
            stack.algos.set_state(cl, state, row.get("algoId") or None, int(row.get("uTime") or 0))

    def on_stop_failed(stop: StopRequest, message: str) -> None:
        bus.publish(
            EventType.ERROR,
            {
                "kind": "stop_failed",
                "clOrdId": stop.entryClOrdId,
                "algoClOrdId": stop.algoClOrdId,
                "instId": stop.instId,
                "message": message,
            },
        )

    sender.on_order_update = stack.orders.on_update
    sender.on_position = on_position
    sender.on_algo = on_algo
    sender.on_stop_failed = on_stop_failed
