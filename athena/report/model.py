"""What a report is made of, whatever produced it (backtest, paper, demo): closed trades with their
exit reason, the equity curve, prices, and the account's totals. Money is Decimal throughout."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from athena.domain import OrderRequest, OrdType
from athena.domain.money import ZERO
from athena.oms.stops import STOP_PREFIX

ReportKind = Literal["backtest", "paper", "demo"]

# Exit reasons, from the order that closed the trade (see exit_reason).
STOP_LOSS = "stop_loss"  # the exchange-side stop triggered
TAKE_PROFIT = "take_profit"  # a reduce-only limit order (the strategy's resting take profit)
MARKET_CLOSE = (
    "market_close"  # a reduce-only market order (ScalperV1: its time stop, or a market take profit)
)
REVERSAL = "reversal"  # an order that was not reduce-only took the position through zero or closed it
EXTERNAL = "external"  # an order Athena did not place (OKX close-position by the flatten task, by hand)
FLATTEN = "flatten"  # closed by the flatten task (the demo knows when it flattened)

EXIT_REASONS = {
    STOP_LOSS: "the exchange-side stop triggered",
    TAKE_PROFIT: "a reduce-only limit order filled (the strategy's take profit)",
    MARKET_CLOSE: "a reduce-only market order (ScalperV1: its time stop, or a take profit in tp_mode market)",
    REVERSAL: "an order that was not reduce-only closed it",
    EXTERNAL: "an order Athena did not place (by hand, or OKX's close-position)",
    FLATTEN: "the flatten task closed it",
}


def exit_reason(clOrdId: str, req: OrderRequest | None) -> str:
    """Why a trade ended, from the closing order. A strategy may name its own reason by tagging its
    reduce-only order (OrderRequest.tag); a triggered stop's order is tagged "stop" by the OMS."""
    if clOrdId.startswith((STOP_PREFIX, "pp")) or (req is not None and req.tag == "stop"):
        return STOP_LOSS
    if req is None:
        return EXTERNAL
    if not req.reduceOnly:
        return REVERSAL
    if req.tag:
        return req.tag
    return MARKET_CLOSE if req.ordType in (OrdType.MARKET, OrdType.OPTIMAL_LIMIT_IOC) else TAKE_PROFIT


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip, flat to flat, of one strategy on one instrument."""

    strategy: str
    instId: str
    side: str  # "long" | "short"
    open_ts: int
    close_ts: int
    qty: Decimal  # contracts, the largest size held
    entry_px: Decimal
    exit_px: Decimal
    gross: Decimal  # price PnL in the settle currency
    fees: Decimal  # negative = paid
    exit_clOrdId: str
    exit_reason: str

    @property
    def net(self) -> Decimal:
        return self.gross + self.fees

    @property
    def duration_ms(self) -> int:
        return self.close_ts - self.open_ts


@dataclass
class Section:
    """Something only one kind of run has (the demo's task latencies, a backtest's data source):
    rows of cells under a header, or preformatted text."""

    title: str
    header: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    text: str = ""


@dataclass
class ReportData:
    kind: ReportKind
    title: str
    meta: dict[str, Any]  # shown as given (seed, capital, strategies, data source ...); must be JSON-able
    initial_equity: Decimal
    final_equity: Decimal
    curve: list[tuple[int, Decimal]]  # (ms, equity) samples, time-ordered
    trades: list[Trade]
    start_ts: int
    end_ts: int
    # realised price PnL of every fill (closed trades and the closed part of open ones)
    gross_pnl: Decimal = ZERO
    fees: Decimal = ZERO  # every fee, negative = paid
    funding: Decimal = ZERO  # funding fees, negative = paid
    funding_by_strategy: dict[str, Decimal] = field(
        default_factory=dict
    )  # used when there are no funding_events
    funding_events: list[tuple[int, str, str, Decimal]] = field(
        default_factory=list
    )  # (ms, instId, strategy, part)
    prices: dict[str, list[tuple[int, Decimal]]] = field(default_factory=dict)  # instId -> (ms, mark) samples
    time_in_market_ms: int | None = None  # None: from the trades' open..close intervals
    max_exposure: Decimal | None = None  # gross open notional, None: not measured
    extra_figures: dict[str, Any] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    json_extra: dict[str, Any] = field(
        default_factory=dict
    )  # summary.json's other top-level keys (the demo's)


def trade_from_trip(trip: Any, exit_reason: str) -> Trade:
    """A ledger's round trip (backtest or demo) as a report row, with the reason it closed."""
    return Trade(
        strategy=trip.strategy,
        instId=trip.instId,
        side=trip.side,
        open_ts=trip.open_ts,
        close_ts=trip.close_ts,
        qty=trip.qty,
        entry_px=trip.entry_px,
        exit_px=trip.exit_px,
        gross=trip.gross,
        fees=trip.fees,
        exit_clOrdId=trip.exit,
        exit_reason=exit_reason,
    )
