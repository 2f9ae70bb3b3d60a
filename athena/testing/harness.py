"""StrategyHarness: run one strategy in a unit test, without Redis, Celery or an exchange.

The strategy gets a real StrategyContext (the one class every mode uses) and a real StrategyRunner
routing events to it, as in the stream worker; what stands behind the context is in memory: the
orders it submits are recorded (`orders`, `cancels`), fills and order states are what the test says
they are, time is a SimClock the test moves, locks are in-memory TTL locks. Risk here only checks that
an order fits the instrument (tickSz, lotSz, minSz) and what `refuse_next` asks: the full risk
checks, capital and the matching engine run in a backtest (`athena backtest --strategy ...`).

    h = StrategyHarness(MyStrategy, params={"window": 3})
    h.book(bid="100000.0", ask="100000.1")
    h.trade(px="100000.1", side="buy")
    assert h.orders[-1].side is Side.BUY
    h.fill(h.orders[-1].clOrdId)          # the whole order at its price, a maker fee
    assert h.position() == h.orders[-1].sz
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from athena.bus import EventBus, EventType
from athena.domain import (
    BookTop,
    Fill,
    Instrument,
    Level,
    Order,
    OrderRequest,
    OrderState,
    OrdType,
    Position,
    PosSide,
    Tick,
    Trade,
)
from athena.domain.money import ZERO
from athena.oms.orders import new_cl_ord_id
from athena.risk.pretrade import size_for_risk
from athena.strategies.base import BaseStrategy
from athena.strategies.clock import MemoryLocks, SimClock
from athena.strategies.context import FeeRates, StrategyContext
from athena.strategies.runner import StrategyRunner

BTC = "BTC-USDT-SWAP"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, the harness clock's start


@dataclass(frozen=True, slots=True)
class _Verdict:
    ok: bool
    reason: str = ""
    margin: Decimal = ZERO


@dataclass
class _Risk:
    """Fits the instrument, and refuses what the test asked it to."""

    refusals: list[str] = field(default_factory=list)

    def check(self, req: OrderRequest, inst: Instrument, equity: Decimal, bypass: bool = False) -> _Verdict:
        if self.refusals:
            return _Verdict(False, self.refusals.pop(0))
        if req.sz <= 0 or req.sz % inst.lotSz != 0 or req.sz < inst.minSz:
            return _Verdict(
                False, f"sz {req.sz} does not fit {inst.instId} (lotSz {inst.lotSz}, minSz {inst.minSz})"
            )
        if req.px is not None and (req.px <= 0 or req.px % inst.tickSz != 0):
            return _Verdict(False, f"px {req.px} is not on {inst.instId}'s tickSz {inst.tickSz}")
        return _Verdict(True)


class _Orders:
    """The OrderManager a strategy's context talks to, in memory: records, never sends."""

    def __init__(self, harness: StrategyHarness) -> None:
        self._h = harness
        self._seq: dict[tuple[str, str], int] = {}

    @staticmethod
    def new_cl_ord_id(strategy: str, seq: int | str, instId: str = "") -> str:
        return new_cl_ord_id(strategy, seq, instId)

    def next_seq(self, strategy: str, instId: str = "") -> int:
        n = self._seq.get((strategy, instId), 0) + 1
        self._seq[(strategy, instId)] = n
        return n

    def submit(self, req: OrderRequest) -> Order:
        order = Order(req, OrderState.SENT, cTime=self._h.now_ms(), uTime=self._h.now_ms())
        self._h.book_of_orders[req.clOrdId] = order
        self._h.orders.append(req)
        return order

    def cancel(self, clOrdId: str) -> None:
        self._h.cancels.append(clOrdId)
        if self._h.auto_confirm_cancels:
            self._h._pending_cancels.append(clOrdId)


def default_instruments() -> dict[str, Instrument]:
    from athena.sim.instruments import default_instruments as sims

    return {si.instId: si.inst for si in sims()}


class StrategyHarness:
    """One strategy, fed by the test; see the module docstring."""

    def __init__(
        self,
        strategy: type[BaseStrategy] | str,
        params: dict[str, Any] | None = None,
        *,
        instIds: Sequence[str] = (BTC,),
        name: str = "test",
        equity: Decimal = Decimal(10_000),
        risk_per_trade: Decimal = Decimal("0.01"),
        fees: FeeRates | None = FeeRates(Decimal("0.0002"), Decimal("0.0005"), "config"),
        instruments: dict[str, Instrument] | None = None,
        start_ms: int = T0,
        strategies_dir: str | None = None,
        auto_confirm_cancels: bool = True,
    ) -> None:
        """strategy: a class, or a `cls` as config gives it (resolved by athena.strategies.loader).
        fees: the account's rates as a cost (positive = paid), what ctx.fee_rates() answers."""
        if isinstance(strategy, str):
            from athena.strategies.loader import resolve

            strategy = resolve(strategy, strategies_dir, name)
        self.clock = SimClock(start_ms)
        self.bus = EventBus()
        self.instruments = instruments or default_instruments()
        self.orders: list[OrderRequest] = []  # every order the strategy submitted, in order
        self.cancels: list[str] = []  # every clOrdId it asked to cancel
        self.book_of_orders: dict[str, Order] = {}  # clOrdId -> our record of it (state, accFillSz)
        self.errors: list[dict[str, Any]] = []  # what it reported through ctx.error
        self.fills: list[Fill] = []
        self.auto_confirm_cancels = auto_confirm_cancels
        self._pending_cancels: list[str] = []
        self._positions: dict[str, tuple[Decimal, Decimal | None]] = {}  # instId -> (signed sz, avg px)
        self._risk = _Risk()
        self._equity = equity
        self._trade_ids = 0
        routes: dict[str, str] = {}
        self.locks = MemoryLocks(self.clock)
        self.ctx = StrategyContext(
            name, orders=_Orders(self), risk=self._risk, instruments=self.instruments,
            equity=lambda: self._equity,
            sizer=lambda eq, px, stop, inst: size_for_risk(eq, px, stop, inst, risk_per_trade),
            clock=self.clock,
            locks=self.locks.lock, bus=self.bus, routes=routes, position_view=self.position,
            exclusive=frozenset(instIds), fee_rates=(lambda _i: fees) if fees is not None else None,
        )  # fmt: skip
        self.strategy = strategy(name, list(instIds), params, self.ctx)
        self.runner = StrategyRunner([self.strategy], routes, lookup=self.book_of_orders.get)
        self.runner.attach(self.bus)
        self.bus.subscribe(EventType.ERROR, self._on_error)
        self.default_instId = instIds[0]

    # -- time -------------------------------------------------------------------------------------
    def now_ms(self) -> int:
        return self.clock.now_ms()

    def advance(self, ms: int) -> None:
        """Move the clock on (nothing is delivered: the strategy sees the new time at its next event)."""
        self.clock.advance(ms)

    # -- market data ------------------------------------------------------------------------------
    def tick(self, tick: Tick) -> None:
        """Deliver one Tick as the stream worker does."""
        self._flush_cancels()
        self.bus.publish(EventType.TICK, tick)

    def book(
        self,
        bid: str | Decimal = "100000.0",
        ask: str | Decimal = "100000.1",
        bid_sz: str | Decimal = "1",
        ask_sz: str | Decimal = "1",
        *,
        instId: str | None = None,
        levels: int = 5,
    ) -> BookTop:
        """A books5 snapshot around bid/ask (levels one tickSz apart, equal sizes), as a Tick."""
        instId = instId or self.default_instId
        tick_sz = self.instruments[instId].tickSz
        b, a = Decimal(bid), Decimal(ask)
        top = BookTop(
            instId,
            tuple(Level(b - tick_sz * i, Decimal(bid_sz)) for i in range(levels)),
            tuple(Level(a + tick_sz * i, Decimal(ask_sz)) for i in range(levels)),
            self.now_ms(),
        )
        self.tick(Tick(instId, book=top))
        return top

    def trade(
        self,
        px: str | Decimal = "100000.1",
        sz: str | Decimal = "1",
        side: str = "buy",
        *,
        instId: str | None = None,
    ) -> Trade:
        """A public trade print (side: the taker's, "buy" or "sell"), as a Tick."""
        instId = instId or self.default_instId
        self._trade_ids += 1
        t = Trade(instId, str(self._trade_ids), Decimal(px), Decimal(sz), side, self.now_ms())
        self.tick(Tick(instId, trade=t))
        return t

    # -- the exchange's answers -------------------------------------------------------------------
    def ack(self, clOrdId: str) -> None:
        """The order is live on the exchange."""
        self._flush_cancels()
        self._set(clOrdId, OrderState.LIVE)

    def fill(
        self,
        clOrdId: str,
        sz: str | Decimal | None = None,
        px: str | Decimal | None = None,
        fee: str | Decimal | None = None,
        maker: bool | None = None,
    ) -> Fill:
        """A fill of sz (default: all that is left) at px (default: the order's px; a market order needs
        px). fee: OKX's sign, negative = paid; default: the harness's maker or taker rate on the notional."""
        self._flush_cancels()
        order = self._order(clOrdId)
        size = Decimal(sz) if sz is not None else order.remaining
        price = Decimal(px) if px is not None else order.req.px
        if price is None:
            raise ValueError(f"{clOrdId} is a market order: give the fill's px")
        if size <= 0 or size > order.remaining:
            raise ValueError(f"{clOrdId}: fill of {size} with {order.remaining} left")
        is_maker = maker if maker is not None else order.req.ordType in (OrdType.POST_ONLY, OrdType.LIMIT)
        if fee is None:
            rates = self.ctx.fee_rates(order.instId)
            rate = (rates.maker if is_maker else rates.taker) if rates is not None else ZERO
            inst = self.instruments[order.instId]
            fee_d = -(size * inst.coin_per_contract * price * rate)
        else:
            fee_d = Decimal(fee)
        acc = order.accFillSz + size
        prev_avg = order.avgPx or ZERO
        order.avgPx = (prev_avg * order.accFillSz + price * size) / acc
        order.accFillSz = acc
        order.fee += fee_d
        f = Fill(
            clOrdId,
            order.instId,
            order.req.side,
            PosSide.NET,
            size,
            price,
            acc,
            fee_d,
            tradeId=f"h{len(self.fills) + 1}",
            strategy=order.req.strategy,
            reduceOnly=order.req.reduceOnly,
            execType="M" if is_maker else "T",
            ts=self.now_ms(),
        )
        self.fills.append(f)
        # the OMS's order: the order's new state, then the fill (the ledger books it first, so
        # ctx.position() includes it in on_fill), then the position
        self._set(clOrdId, OrderState.FILLED if acc >= order.req.sz else OrderState.PARTIALLY_FILLED)
        self._book_position(f)
        self.bus.publish(EventType.ORDER_FILLED, f)
        pos, avg = self._positions[order.instId]
        self.bus.publish(
            EventType.POSITION_UPDATE, Position(order.instId, PosSide.NET, pos, avg, uTime=self.now_ms())
        )
        return f

    def cancelled(self, clOrdId: str) -> None:
        """The exchange confirms the cancel (what is filled stays filled)."""
        self._set(clOrdId, OrderState.CANCELED)

    def reject(self, clOrdId: str, reason: str = "rejected") -> None:
        """The exchange refuses the order (e.g. 51026, a post-only order that would take)."""
        self._flush_cancels()
        self._set(clOrdId, OrderState.REJECTED, reason)

    def refuse_next(self, reason: str = "refused by the test") -> None:
        """Risk refuses the next order the strategy submits (ctx.order returns Intent(ok=False))."""
        self._risk.refusals.append(reason)

    def set_equity(self, equity: Decimal) -> None:
        self._equity = equity

    # -- what the test reads ----------------------------------------------------------------------
    def position(self, instId: str | None = None) -> Decimal:
        """The signed position (contracts) the fills so far add up to."""
        return self._positions.get(instId or self.default_instId, (ZERO, None))[0]

    def working(self) -> list[OrderRequest]:
        """Orders not filled, cancelled or rejected yet."""
        return [o.req for o in self.book_of_orders.values() if not o.state.is_terminal]

    # -- internals --------------------------------------------------------------------------------
    def _order(self, clOrdId: str) -> Order:
        order = self.book_of_orders.get(clOrdId)
        if order is None:
            raise KeyError(
                f"{clOrdId}: the strategy submitted no such order (it has: {sorted(self.book_of_orders)})"
            )
        return order

    def _set(self, clOrdId: str, state: OrderState, reason: str = "") -> None:
        order = self._order(clOrdId)
        if order.state.is_terminal:
            return
        order.state, order.uTime = state, self.now_ms()
        order.reason = reason or order.reason
        self.bus.publish(EventType.ORDER_UPDATE, replace(order))

    def _flush_cancels(self) -> None:
        """The cancels asked so far are confirmed before the next event (any tick or exchange answer)."""
        pending, self._pending_cancels = self._pending_cancels, []
        for cid in pending:
            self._set(cid, OrderState.CANCELED)

    def _book_position(self, f: Fill) -> None:
        pos, avg = self._positions.get(f.instId, (ZERO, None))
        new = pos + f.signed_sz
        if pos == 0 or (pos > 0) == (f.signed_sz > 0):
            avg = ((avg or ZERO) * abs(pos) + f.fillPx * f.fillSz) / abs(new)
        elif new == 0:
            avg = None
        elif (new > 0) != (pos > 0):  # flipped: the rest opened at this fill's price
            avg = f.fillPx
        self._positions[f.instId] = (new, avg)

    def _on_error(self, payload: Any) -> None:
        if isinstance(payload, dict):
            self.errors.append(payload)
