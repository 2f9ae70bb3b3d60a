"""StrategyRunner: routes bus events to the strategies they concern.

Ticks go to every strategy trading the instId; order events and fills to the strategy that owns the
clOrdId (StrategyContext records it at submit); positions to the strategies trading the instId; a
stop_failed ERROR to the owner of the entry. Runs on the dispatcher thread: no locks.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from athena.bus import EventBus, EventType
from athena.domain import Fill, Order, Position, Tick
from athena.strategies.base import BaseStrategy, OrderEvent


class StrategyRunner:
    def __init__(
        self,
        strategies: list[BaseStrategy],
        routes: dict[str, str],
        lookup: Callable[[str], Order | None] | None = None,
        keep_done: int = 10_000,
    ) -> None:
        names = [s.name for s in strategies]
        if len(names) != len(set(names)):
            raise ValueError(f"strategy names must be unique: {names}")
        self.strategies = strategies
        self.by_name = {s.name: s for s in strategies}
        self.by_inst: dict[str, list[BaseStrategy]] = defaultdict(list)
        for s in strategies:
            for instId in s.instIds:
                self.by_inst[instId].append(s)
        self.routes = routes  # clOrdId -> strategy name, shared with every StrategyContext
        self._lookup = lookup
        self._done: deque[str] = deque()  # terminal clOrdIds; routes of the oldest are dropped
        self.keep_done = keep_done

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(EventType.TICK, self.on_tick)
        bus.subscribe(EventType.ORDER_UPDATE, self.on_order)
        bus.subscribe(EventType.ORDER_FILLED, self.on_fill)
        bus.subscribe(EventType.POSITION_UPDATE, self.on_position)
        bus.subscribe(EventType.ERROR, self.on_error)

    def on_tick(self, tick: Tick) -> None:
        for s in self.by_inst.get(tick.instId, ()):
            s.on_tick(tick)

    def _owner(self, clOrdId: str) -> BaseStrategy | None:
        name = self.routes.get(clOrdId)
        return self.by_name.get(name) if name else None

    def on_order(self, order: Order) -> None:
        s = self._owner(order.clOrdId)
        if s is None:
            return
        if order.state.is_terminal:  # late fills/events still route for a while; memory stays bounded
            self._done.append(order.clOrdId)
            if len(self._done) > self.keep_done:
                self.routes.pop(self._done.popleft(), None)
        s.on_order(OrderEvent(order.clOrdId, order.instId, order.state, order.accFillSz, order.reason))

    def on_fill(self, fill: Fill) -> None:
        s = self.by_name.get(fill.strategy) or self._owner(fill.clOrdId)
        if s is not None:
            s.on_fill(fill)

    def on_position(self, position: Position) -> None:
        for s in self.by_inst.get(position.instId, ()):
            s.on_position(position)

    def on_error(self, payload: Any) -> None:
        if not isinstance(payload, dict) or payload.get("kind") != "stop_failed":
            return
        entry = str(payload.get("clOrdId") or "")
        order = self._lookup(entry) if self._lookup is not None and entry else None
        s = self._owner(entry) or self._owner(str(payload.get("algoClOrdId") or ""))
        if s is None and order is not None:
            s = self.by_name.get(order.req.strategy)
        if s is None:
            return
        instId = str(payload.get("instId") or "") or (order.instId if order is not None else "")
        if instId:
            s.on_stop_failed(instId, str(payload.get("message") or "stop failed"))
