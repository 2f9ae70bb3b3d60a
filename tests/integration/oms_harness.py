"""Shared set-up for the OMS integration tests (no tests here): real Redis, real stores, real bus."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from redis import Redis

from athena.bus import EventBus, EventType
from athena.domain import Instrument, OrderRequest, OrderState, OrderUpdate, OrdType, PosSide, Side
from athena.oms.orders import OrderManager
from athena.oms.positions import PositionManager
from athena.oms.sender import RecordingSender
from athena.state.algos import AlgoStore
from athena.state.keys import Keys
from athena.state.orders import OrderStore

INST = "BTC-USDT-SWAP"
BTC = Instrument(
    INST, ctVal=Decimal("0.01"), lotSz=Decimal("0.01"), tickSz=Decimal("0.1"), minSz=Decimal("0.01")
)


@dataclass
class Clock:
    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Oms:
    """One process's OMS over a shared Redis; events recorded per type."""

    redis: Redis
    keys: Keys
    clock: Clock
    sender: RecordingSender
    bus: EventBus
    store: OrderStore
    algos: AlgoStore
    om: OrderManager
    pm: PositionManager
    events: dict[EventType, list[Any]] = field(default_factory=lambda: defaultdict(list))

    def fills(self, clOrdId: str | None = None) -> list[Any]:
        return [f for f in self.events[EventType.ORDER_FILLED] if clOrdId is None or f.clOrdId == clOrdId]


def make_oms(
    redis: Redis, clock: Clock | None = None, sender: RecordingSender | None = None, journal: Any = None
) -> Oms:
    keys = Keys("test", "acct")
    clock = clock or Clock()
    sender = sender or RecordingSender()
    bus = EventBus()
    store, algos = OrderStore(redis, keys), AlgoStore(redis, keys)
    om = OrderManager(store, bus, sender, journal=journal, clock=clock, algos=algos)
    pm = PositionManager(redis, keys, bus, journal=journal, instruments={INST: BTC}, clock=clock)
    oms = Oms(redis, keys, clock, sender, bus, store, algos, om, pm)
    for kind in EventType:
        bus.subscribe(kind, oms.events[kind].append)
    return oms


def entry(
    cl: str,
    side: Side = Side.BUY,
    sz: str = "3",
    px: str | None = "100",
    sl: str | None = "90",
    pos_side: PosSide = PosSide.NET,
) -> OrderRequest:
    return OrderRequest(
        cl,
        INST,
        side,
        OrdType.LIMIT if px else OrdType.MARKET,
        Decimal(sz),
        None if px is None else Decimal(px),
        posSide=pos_side,
        strategy="s1",
        stop_loss_px=None if sl is None else Decimal(sl),
    )


def exit_(cl: str, side: Side = Side.SELL, sz: str = "3", pos_side: PosSide = PosSide.NET) -> OrderRequest:
    return OrderRequest(
        cl,
        INST,
        side,
        OrdType.MARKET,
        Decimal(sz),
        posSide=pos_side,
        reduceOnly=pos_side is PosSide.NET,
        strategy="s1",
    )


def upd(
    cl: str,
    state: OrderState,
    acc: str | None = None,
    avg: str | None = None,
    fill_sz: str | None = None,
    fill_px: str | None = None,
    ord_id: str | None = None,
    trade: str | None = None,
    source: str = "ws",
    u_time: int = 0,
) -> OrderUpdate:
    def d(x: str | None) -> Decimal | None:
        return None if x is None else Decimal(x)

    return OrderUpdate(
        cl,
        INST,
        state,
        ordId=ord_id,
        accFillSz=d(acc),
        avgPx=d(avg),
        fillSz=d(fill_sz),
        fillPx=d(fill_px),
        tradeId=trade,
        source=source,
        uTime=u_time,
    )
