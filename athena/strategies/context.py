"""StrategyContext: the only door from a strategy to the world.

buy/sell build an OrderRequest (clOrdId from OrderManager.new_cl_ord_id(strategy, seq), so each
intent has one deterministic id), run PreTradeCheck and submit via the OrderManager. close() is a
reduce-only order checked with bypass=True (an emergency close is never refused for risk).
The context also exposes instruments, the strategy's equity for sizing, a clock and TTL locks.
A paused strategy (StrategyPause) gets every entry refused here; reduce-only orders still go.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from athena.bus import EventBus, EventType
from athena.domain import Instrument, Order, OrderRequest, OrderState, OrdType, PosSide, Side, TdMode
from athena.domain.money import ZERO
from athena.oms.stops import stop_id_for
from athena.risk.gate import CapitalLike, PreTradeLike, check_and_reserve
from athena.state.flags import Flag
from athena.strategies.clock import Clock, TtlLockLike


class OrderManagerLike(Protocol):
    def new_cl_ord_id(self, strategy: str, seq: int | str, instId: str = "") -> str: ...

    def next_seq(self, strategy: str, instId: str = "") -> int: ...

    def submit(self, req: OrderRequest) -> Order: ...

    def cancel(self, clOrdId: str) -> Any: ...


# (equity, entry_px, stop_px, instrument) -> contracts (0 when too small): PreTradeCheck.size_for_risk
Sizer = Callable[[Decimal, Decimal, Decimal, Instrument], Decimal]
LockFactory = Callable[[str, int], TtlLockLike]


@dataclass(frozen=True, slots=True)
class FeeRates:
    """The account's fee per unit of notional, as a cost: positive = paid, negative = a rebate (OKX's
    trade-fee sign flipped). source: "exchange" (the tier the pre-flight read) or "config" (fees.*)."""

    maker: Decimal  # fraction of notional for a maker fill (0.0002 = 2 bps paid)
    taker: Decimal  # fraction of notional for a taker fill
    source: str = "config"  # "exchange" | "config"


@dataclass(frozen=True, slots=True)
class Intent:
    """The outcome of one buy/sell/close call: submitted (ok) or refused with a reason."""

    clOrdId: str  # the order's id, also when refused
    ok: bool  # True: submitted (its outcome comes as on_order/on_fill events)
    reason: str = ""  # why risk (or the pause, or the exchange) refused it


class StrategyContext:
    def __init__(
        self,
        strategy: str,
        *,
        orders: OrderManagerLike,
        risk: PreTradeLike,
        instruments: dict[str, Instrument],
        equity: Callable[[], Decimal | None],
        sizer: Sizer,
        clock: Clock,
        locks: LockFactory,
        bus: EventBus,
        routes: dict[str, str] | None = None,
        position_view: Callable[[str], Decimal | None] | None = None,
        exclusive: frozenset[str] = frozenset(),
        td_mode: TdMode = TdMode.CROSS,
        capital: CapitalLike | None = None,
        max_notional: Callable[[], Decimal | None] | None = None,
        paused: Callable[[], bool] | None = None,
        max_position: Decimal | None = None,
        decision_flags: Sequence[Flag] = (),
        fee_rates: Callable[[str], FeeRates | None] | None = None,
    ) -> None:
        self.strategy = strategy
        self._orders = orders
        self._risk = risk
        self._instruments = instruments
        self._equity = equity
        self._sizer = sizer
        self._clock = clock
        self._locks = locks
        self.bus = bus
        self.routes = routes if routes is not None else {}  # clOrdId -> strategy, for event routing
        self._position_view = position_view
        self.exclusive = exclusive  # instIds only this strategy trades (position checks apply)
        self.td_mode = td_mode
        self._capital = capital  # reserves an approved entry's margin (CapitalCommander)
        self._max_notional = max_notional  # the risk profile's per-order cap (and leverage x equity)
        self._max_position = max_position  # the risk profile's contracts per instrument
        self._paused = paused  # per-strategy pause flag (StrategyPause.view): blocks entries, never exits
        # switches an entry decision reads (halt, this strategy's pause): fetched with its capital reads
        self._decision_flags = tuple(decision_flags)
        self._fee_rates = fee_rates
        self.refusals = 0

    # -- world views ---------------------------------------------------------------------------
    def instrument(self, instId: str) -> Instrument:
        return self._instruments[instId]

    def now_ms(self) -> int:
        return self._clock.now_ms()

    def equity(self) -> Decimal | None:
        """This strategy's allocated equity (None when unknown: then nothing is sized)."""
        return self._equity()

    def size_for_risk(self, instId: str, entry_px: Decimal, stop_px: Decimal) -> Decimal:
        """Contracts such that entry->stop loses at most the risk fraction of allocated equity."""
        equity = self._equity()
        if equity is None or equity <= ZERO:
            return ZERO
        return self._sizer(equity, entry_px, stop_px, self._instruments[instId])

    def max_contracts(self, instId: str, px: Decimal) -> Decimal | None:
        """The largest entry from flat the risk limits allow at px (None: no limit known): the
        per-order notional cap and the profile's max_position."""
        cap = self._max_notional() if self._max_notional is not None and px > 0 else None
        inst = self._instruments[instId]
        by_notional = inst.round_sz(cap / (px * inst.coin_per_contract)) if cap is not None else None
        if self._max_position is None:
            return by_notional
        return self._max_position if by_notional is None else min(by_notional, self._max_position)

    def position(self, instId: str) -> Decimal | None:
        """The PositionManager's signed view of the position, None when it has none to offer."""
        return self._position_view(instId) if self._position_view is not None else None

    def fee_rates(self, instId: str) -> FeeRates | None:
        """The account's maker/taker rates for instId (None: nobody told this context)."""
        return self._fee_rates(instId) if self._fee_rates is not None else None

    def entries_paused(self) -> bool:
        """True while this strategy is paused: no new entries; exits and cancels still go."""
        return self._paused is not None and self._paused()

    def lock(self, name: str, ttl_ms: int) -> TtlLockLike:
        return self._locks(f"{self.strategy}:{name}", ttl_ms)

    def error(self, message: str, **data: Any) -> None:
        self.bus.publish(EventType.ERROR, {"source": self.strategy, "message": message, **data})

    # -- actions -------------------------------------------------------------------------------
    def next_cl_ord_id(self, instId: str) -> str:
        """A fresh, deterministic clOrdId: strategy + instrument + an intent sequence kept by the OMS
        (in Redis, so a restart never reuses one)."""
        seq = self._orders.next_seq(self.strategy, instId)
        return self._orders.new_cl_ord_id(self.strategy, seq, instId)

    def buy(self, instId: str, sz: Decimal, px: Decimal | None = None, **kw: Any) -> Intent:
        return self.order(instId, Side.BUY, sz, px, **kw)

    def sell(self, instId: str, sz: Decimal, px: Decimal | None = None, **kw: Any) -> Intent:
        return self.order(instId, Side.SELL, sz, px, **kw)

    def close(
        self, instId: str, side: Side, sz: Decimal, px: Decimal | None = None, clOrdId: str | None = None
    ) -> Intent:
        """Reduce-only: market when px is None, else a limit. Risk check bypassed."""
        return self.order(instId, side, sz, px, reduce_only=True, clOrdId=clOrdId)

    def order(
        self,
        instId: str,
        side: Side,
        sz: Decimal,
        px: Decimal | None = None,
        *,
        post_only: bool = False,
        reduce_only: bool = False,
        stop_loss_px: Decimal | None = None,
        take_profit_px: Decimal | None = None,
        tag: str = "",
        clOrdId: str | None = None,
    ) -> Intent:
        """clOrdId: one taken from next_cl_ord_id() beforehand, so the caller can record it first."""
        ord_type = OrdType.MARKET if px is None else OrdType.POST_ONLY if post_only else OrdType.LIMIT
        req = OrderRequest(
            clOrdId=clOrdId or self.next_cl_ord_id(instId),
            instId=instId,
            side=side,
            ordType=ord_type,
            sz=sz,
            px=px,
            tdMode=self.td_mode,
            posSide=PosSide.NET,
            reduceOnly=reduce_only,
            strategy=self.strategy,
            stop_loss_px=None if reduce_only else stop_loss_px,
            take_profit_px=take_profit_px,
            tag=tag,
        )
        return self.submit(req, bypass=reduce_only)

    def _capital_view(self, flags: Sequence[Flag]) -> AbstractContextManager[None]:
        """One consistent read of the capital ledger (and of flags) for the whole decision
        (CapitalCommander.consistent_view)."""
        view = getattr(self._capital, "consistent_view", None)
        if view is None:
            return nullcontext()
        return view(flags) if flags else view()

    def submit(self, req: OrderRequest, bypass: bool = False) -> Intent:
        with self._capital_view(() if req.reduceOnly else self._decision_flags):
            if not req.reduceOnly and self.entries_paused():  # enforced here, whatever the strategy does
                self.refusals += 1
                return Intent(req.clOrdId, False, "paused")
            reason = check_and_reserve(
                req, self._instruments[req.instId], self._equity() or ZERO, strategy=self.strategy,
                risk=self._risk, capital=self._capital, bypass=bypass,
            )  # fmt: skip
        if reason is not None:
            self.refusals += 1
            return Intent(req.clOrdId, False, reason)
        self.routes[req.clOrdId] = self.strategy
        if req.stop_loss_px is not None:  # the OMS names the entry's stop after it
            self.routes[stop_id_for(req.clOrdId)] = self.strategy
        order = self._orders.submit(req)
        if order.state is OrderState.REJECTED:
            return Intent(req.clOrdId, False, order.reason or "rejected")
        return Intent(req.clOrdId, True)

    def cancel(self, clOrdId: str) -> None:
        self._orders.cancel(clOrdId)
