"""Orders, order updates, fills, algo (stop) orders and positions."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from athena.domain.enums import AlgoState, OrderState, OrdType, PosSide, Side, TdMode
from athena.domain.money import ZERO


class OrderIntentError(ValueError):
    """An order request that can never be valid (missing px on a limit order, bad clOrdId, ...)."""


def valid_cl_ord_id(cl_ord_id: str) -> bool:
    """OKX: 1-32 case-sensitive letters and digits."""
    return 0 < len(cl_ord_id) <= 32 and cl_ord_id.isascii() and cl_ord_id.isalnum()


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a strategy (or a control task) wants placed. Immutable; carries its clOrdId from birth."""

    clOrdId: str  # our id, given before sending (letters and digits, at most 32)
    instId: str
    side: Side  # Side.BUY | Side.SELL
    ordType: OrdType  # market, limit, post_only, ...
    sz: Decimal  # contracts
    px: Decimal | None = None  # None for market orders: an explicit absence, never 0
    tdMode: TdMode = TdMode.CROSS  # margin mode
    posSide: PosSide = PosSide.NET  # net mode: one signed position per instrument
    reduceOnly: bool = False  # may only reduce a position (exits)
    strategy: str = ""  # the strategy's name from config
    stop_loss_px: Decimal | None = None  # entry orders carry the stop that must protect their fills
    take_profit_px: Decimal | None = None  # informational: the strategy places its own take profit
    tag: str = ""  # OKX's order tag

    def __post_init__(self) -> None:
        if not valid_cl_ord_id(self.clOrdId):
            raise OrderIntentError(f"clOrdId {self.clOrdId!r} must be 1-32 letters/digits")
        if self.sz <= ZERO:
            raise OrderIntentError(f"{self.clOrdId}: sz must be positive, got {self.sz}")
        if self.ordType.needs_px and self.px is None:
            raise OrderIntentError(f"{self.clOrdId}: {self.ordType} order needs px")
        if not self.ordType.needs_px and self.px is not None:
            raise OrderIntentError(f"{self.clOrdId}: {self.ordType} order must not carry px")

    def to_okx(self) -> dict[str, Any]:
        """The /trade/order body (strings, as OKX expects)."""
        from athena.domain.money import fmt

        body: dict[str, Any] = {
            "instId": self.instId,
            "tdMode": str(self.tdMode),
            "side": str(self.side),
            "ordType": str(self.ordType),
            "sz": fmt(self.sz),
            "clOrdId": self.clOrdId,
        }
        if self.px is not None:
            body["px"] = fmt(self.px)
        if self.posSide is not PosSide.NET:
            body["posSide"] = str(self.posSide)
        if self.reduceOnly:
            body["reduceOnly"] = True
        if self.tag:
            body["tag"] = self.tag
        return body


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One report about an order from any source (REST ack, REST query, WS push, sync).

    Fields OKX left empty are None. accFillSz/avgPx are cumulative; fillSz/fillPx/tradeId describe
    the fill this report carries, if any (WS) or the last fill (REST).
    """

    clOrdId: str
    instId: str
    state: OrderState
    ordId: str | None = None
    accFillSz: Decimal | None = None
    avgPx: Decimal | None = None
    fillSz: Decimal | None = None
    fillPx: Decimal | None = None
    tradeId: str | None = None
    fillFee: Decimal | None = None  # this fill's fee (WS), negative = paid
    fee: Decimal | None = None  # cumulative fee, negative = paid
    feeCcy: str | None = None
    execType: str | None = None  # "M" maker, "T" taker
    side: Side | None = None
    posSide: PosSide | None = None
    sz: Decimal | None = None
    px: Decimal | None = None
    ordType: OrdType | None = None
    reduceOnly: bool | None = None
    pnl: Decimal | None = None
    sCode: str | None = None  # rejection code when state is REJECTED
    sMsg: str | None = None
    uTime: int = 0
    source: str = ""  # "rest_ack" | "rest_query" | "ws" | "sync" | "local"
    algoClOrdId: str = ""  # set on the order a triggered exchange stop created (its clOrdId is empty)


@dataclass(slots=True)
class Order:
    """Our record of one order, keyed by clOrdId."""

    req: OrderRequest
    state: OrderState = OrderState.CREATED
    ordId: str | None = None
    accFillSz: Decimal = ZERO
    avgPx: Decimal | None = None
    fee: Decimal = ZERO
    reason: str = ""
    cTime: int = 0
    uTime: int = 0

    @property
    def clOrdId(self) -> str:
        return self.req.clOrdId

    @property
    def instId(self) -> str:
        return self.req.instId

    @property
    def remaining(self) -> Decimal:
        return self.req.sz - self.accFillSz

    def with_state(self, state: OrderState) -> Order:
        return replace(self, state=state)


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill delta, emitted exactly once per (clOrdId, cumulative size reached)."""

    clOrdId: str  # the order this fill belongs to
    instId: str
    side: Side  # the order's side
    posSide: PosSide  # net mode: PosSide.NET
    fillSz: Decimal  # contracts filled by this delta
    fillPx: Decimal  # price of this delta
    accFillSz: Decimal  # cumulative after this fill: with clOrdId, the fill's identity
    fee: Decimal = ZERO  # negative = paid
    tradeId: str = ""  # the exchange's trade id
    ordId: str | None = None  # the exchange's order id
    strategy: str = ""  # the owning strategy ("" for a triggered exchange stop)
    reduceOnly: bool = False  # an exit (take profit, close, the exchange stop)
    execType: str = ""  # "M" maker, "T" taker
    ts: int = 0  # exchange ms

    @property
    def fill_key(self) -> str:
        """Unique, source-independent identity of this fill."""
        return f"{self.clOrdId}:{self.accFillSz}"

    @property
    def signed_sz(self) -> Decimal:
        return self.fillSz if self.side is Side.BUY else -self.fillSz


@dataclass(frozen=True, slots=True)
class AlgoOrder:
    """An exchange-side conditional stop (ordType conditional, slOrdPx -1 = market).

    Athena's own stops have a size. A stop set on the position itself (what the OKX app creates for
    TP/SL on a position) has none: closeFraction 1 closes the whole position, whatever its size when it
    fires, so it covers the position's size (`covers`)."""

    algoClOrdId: str
    instId: str
    side: Side
    sz: Decimal | None  # None only with closeFraction
    slTriggerPx: Decimal
    state: AlgoState = AlgoState.LIVE
    algoId: str | None = None
    posSide: PosSide = PosSide.NET
    tdMode: TdMode = TdMode.CROSS
    slTriggerPxType: str = "last"
    reduceOnly: bool = True
    uTime: int = 0
    closeFraction: Decimal | None = None  # fraction of the position it closes (OKX: only 1)

    def __post_init__(self) -> None:
        if (self.sz is None) == (self.closeFraction is None):
            raise ValueError(f"algo {self.algoClOrdId or self.algoId!r}: exactly one of sz and closeFraction")

    @property
    def whole_position(self) -> bool:
        return self.closeFraction is not None

    def covers(self, pos: Decimal) -> Decimal:
        """How much of a position of size `pos` (signed or not) this stop closes when it fires."""
        if self.closeFraction is not None:
            return abs(pos) * self.closeFraction
        assert self.sz is not None
        return self.sz


@dataclass(frozen=True, slots=True)
class Position:
    """A position as the exchange reports it. pos is signed in net mode (+long / -short)."""

    instId: str
    posSide: PosSide  # net mode: PosSide.NET
    pos: Decimal  # contracts; signed in net mode (+long / -short)
    avgPx: Decimal | None  # average entry price (None when flat or unknown)
    mgnMode: TdMode = TdMode.CROSS  # margin mode
    markPx: Decimal | None = None  # the exchange's mark price
    upl: Decimal | None = None  # unrealised PnL, settle currency
    realizedPnl: Decimal | None = None  # realised PnL, settle currency
    lever: Decimal | None = None  # leverage
    liqPx: Decimal | None = None  # estimated liquidation price
    uTime: int = 0  # exchange ms of the last update
    extra: dict[str, str] = field(default_factory=dict)  # other OKX fields, as sent

    @property
    def signed(self) -> Decimal:
        if self.posSide is PosSide.SHORT:
            return -abs(self.pos)
        return self.pos

    @property
    def is_flat(self) -> bool:
        return self.pos == ZERO
