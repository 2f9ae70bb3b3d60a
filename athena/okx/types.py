"""Typed results of OKX calls that have no home in athena.domain. Money is Decimal; absent is None."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from athena.domain import PosMode, PosSide, Side, TdMode
from athena.okx.errors import outcome_unknown


@dataclass(frozen=True, slots=True)
class BalanceDetail:
    """One currency of /account/balance `details` (or the account channel)."""

    ccy: str
    eq: Decimal | None
    cashBal: Decimal | None
    availBal: Decimal | None
    availEq: Decimal | None
    frozenBal: Decimal | None
    ordFrozen: Decimal | None
    upl: Decimal | None
    eqUsd: Decimal | None
    uTime: int = 0

    @property
    def available(self) -> Decimal | None:
        """What may be used for new orders: availEq, else availBal (as ccxt does)."""
        return self.availEq if self.availEq is not None else self.availBal


@dataclass(frozen=True, slots=True)
class Balance:
    """The trading account: total equity in USD and one detail per currency."""

    totalEq: Decimal | None
    details: dict[str, BalanceDetail] = field(default_factory=dict)
    upl: Decimal | None = None
    imr: Decimal | None = None
    mmr: Decimal | None = None
    mgnRatio: Decimal | None = None
    uTime: int = 0

    def get(self, ccy: str) -> BalanceDetail | None:
        return self.details.get(ccy)


@dataclass(frozen=True, slots=True)
class OkxFill:
    """One row of /trade/fills. fee negative = paid."""

    instId: str
    tradeId: str
    ordId: str
    clOrdId: str
    side: Side
    posSide: PosSide
    fillPx: Decimal
    fillSz: Decimal
    fee: Decimal | None
    feeCcy: str
    execType: str
    billId: str = ""
    fillPnl: Decimal | None = None
    ts: int = 0


@dataclass(frozen=True, slots=True)
class OrderAck:
    """An accepted cancel/amend request. The final state comes from the orders channel or a query."""

    clOrdId: str
    ordId: str
    ts: int = 0
    reqId: str = ""


@dataclass(frozen=True, slots=True)
class AlgoAck:
    algoId: str
    algoClOrdId: str
    sCode: str = "0"
    sMsg: str = ""

    @property
    def ok(self) -> bool:
        return self.sCode == "0"

    @property
    def outcome_unknown(self) -> bool:
        """Neither cancelled nor refused (51149, 50026, ...): the algo may still be working."""
        return outcome_unknown(self.sCode)


@dataclass(frozen=True, slots=True)
class AccountConfig:
    uid: str
    acctLv: str
    posMode: PosMode
    perm: str = ""
    label: str = ""
    autoLoan: bool = False

    @property
    def can_trade(self) -> bool:
        return "trade" in self.perm.split(",")


@dataclass(frozen=True, slots=True)
class LeverageInfo:
    instId: str
    lever: Decimal
    mgnMode: TdMode
    posSide: PosSide = PosSide.NET


@dataclass(frozen=True, slots=True)
class ClosePositionAck:
    instId: str
    posSide: PosSide
    clOrdId: str = ""
    tag: str = ""


@dataclass(frozen=True, slots=True)
class CancelAllAfter:
    """cancel-all-after reply. Both times are Unix SECONDS (unlike everywhere else); 0 = disabled."""

    triggerTime: int
    ts: int
    tag: str = ""


@dataclass(frozen=True, slots=True)
class PrivateResync:
    """A private connection is logged in and every channel is subscribed again: from here on pushes flow.

    Pushes sent while it was down (`gap_ms`, None on the first login) are LOST: OKX does not replay them.
    The consumer must reconcile by REST now (working orders by clOrdId + orders-pending, positions, and
    for `connection == "okx-business"` the pending algos). Emitted through on_event after every login,
    so it is ordered after every push received before it.
    """

    connection: str  # "okx-private" or "okx-business"
    logins: int  # 1 on the first login, > 1 after a reconnect
    gap_ms: int | None  # how long the channels were not delivering (None on the first login)
    channels: tuple[str, ...] = ()

    @property
    def reconnected(self) -> bool:
        return self.logins > 1
