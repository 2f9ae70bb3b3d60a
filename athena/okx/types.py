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
    acctLv: str  # 1 spot, 2 futures, 3 multi-currency margin, 4 portfolio margin
    posMode: PosMode
    perm: str = ""  # the API key's permissions: read_only, trade, withdraw (comma-separated)
    label: str = ""
    autoLoan: bool = False
    ip: str = ""  # the IP addresses the API key is bound to ("" = none)

    @property
    def can_trade(self) -> bool:
        return "trade" in self.perm.split(",")

    @property
    def can_withdraw(self) -> bool:
        return "withdraw" in self.perm.split(",")


@dataclass(frozen=True, slots=True)
class TradeFee:
    """The account's fee tier (GET /account/trade-fee). Rates are OKX's signs: negative = paid, positive =
    rebate. For SWAP, maker/taker are the coin-margined rates, makerU/takerU the USDT-margined ones and
    makerUSDC/takerUSDC the USDC-margined ones; None = absent."""

    instType: str
    level: str
    maker: Decimal | None
    taker: Decimal | None
    makerU: Decimal | None = None
    takerU: Decimal | None = None
    makerUSDC: Decimal | None = None
    takerUSDC: Decimal | None = None
    ts: int = 0

    def rates(self, settleCcy: str = "USDT") -> tuple[Decimal | None, Decimal | None]:
        """(maker, taker) for contracts settled in settleCcy."""
        if settleCcy == "USDT" and self.makerU is not None:
            return self.makerU, self.takerU
        if settleCcy == "USDC" and self.makerUSDC is not None:
            return self.makerUSDC, self.takerUSDC
        return self.maker, self.taker


@dataclass(frozen=True, slots=True)
class PriceLimit:
    """GET /public/price-limit: the highest price a buy may pay and the lowest a sell may take. Both None
    when OKX applies no band to the instrument (`enabled` false)."""

    instId: str
    buyLmt: Decimal | None
    sellLmt: Decimal | None
    enabled: bool
    ts: int = 0

    def allows(self, side: Side, px: Decimal) -> bool:
        if not self.enabled or self.buyLmt is None or self.sellLmt is None:
            return True
        return px <= self.buyLmt if side is Side.BUY else px >= self.sellLmt

    def clamp(self, px: Decimal) -> Decimal:
        """px moved inside [sellLmt, buyLmt] (unchanged when no band applies)."""
        if not self.enabled or self.buyLmt is None or self.sellLmt is None:
            return px
        return min(max(px, self.sellLmt), self.buyLmt)


@dataclass(frozen=True, slots=True)
class Maintenance:
    """One window of GET /system/status. serviceType: 0 WebSocket, 5 trading service, 6 block trading,
    7 trading bot, 8 trading (in batches of accounts), 9 trading (in batches of products), 10 spread
    trading, 11 copy trading, 99 others (e.g. some instruments suspended). env: 1 production, 2 demo."""

    title: str
    state: str  # scheduled | ongoing | pre_open | completed | canceled
    begin: int  # ms
    end: int | None  # ms (expected until completed)
    serviceType: str
    env: str = ""
    system: str = ""
    maintType: str = ""  # 1 scheduled, 2 unscheduled, 3 system disruption
    preOpenBegin: int | None = None
    href: str = ""


@dataclass(frozen=True, slots=True)
class Bill:
    """One row of GET /account/bills. type 8 = funding fee (subType 173 expense, 174 income: the amount is
    in pnl and balChg); type 2 = trade. billId is globally unique."""

    billId: str
    type: str
    subType: str
    instId: str
    ccy: str
    balChg: Decimal | None
    pnl: Decimal | None
    fee: Decimal | None
    sz: Decimal | None
    px: Decimal | None
    mgnMode: str = ""
    ordId: str = ""
    tradeId: str = ""
    ts: int = 0


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
