"""ExchangePort: the exchange as the orders worker's use cases (athena.ops) and the engine call it.

OkxRestGateway implements it (over OKX, or over the sim's HTTP API: the same client); mypy checks that
where athena.wiring builds it. The backtest runs no athena.ops code: its OMS reaches the sim's matching
engine through an OrderSender (athena.backtest.bridge), as the stream worker's OMS reaches Celery.

Every method raises athena.okx.errors.* (OkxRejected: a definite refusal; OkxAmbiguous: the outcome is
unknown, query by clOrdId before sending again; OkxTransient, OkxRateLimited: nothing happened).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol

from athena.domain import AlgoOrder, Instrument, OrderRequest, OrderUpdate, Position, PosMode, PosSide, TdMode
from athena.okx.types import (
    AccountConfig,
    AlgoAck,
    Balance,
    Bill,
    CancelAllAfter,
    ClosePositionAck,
    LeverageInfo,
    Maintenance,
    OrderAck,
    PriceLimit,
    TradeFee,
)


class ExchangePort(Protocol):
    @property
    def exp_time_ms(self) -> int:
        """The deadline order requests carry (OKX's expTime, in ms after sending); 0: none. With one, a
        request that timed out can no longer start executing, so a query that does not find it is final."""
        ...

    # -- reference data and account ---------------------------------------------------------
    def instruments(self, instType: str = "SWAP", instId: str | None = None) -> list[Instrument]: ...

    def balance(self, ccy: str | None = None) -> Balance: ...

    def positions(self, instId: str | None = None, instType: str = "SWAP") -> list[Position]: ...

    def price_limit(self, instId: str) -> PriceLimit: ...

    def bills(
        self,
        type: str | None = None,
        subType: str | None = None,
        instId: str | None = None,
        before: str | None = None,
        after: str | None = None,
        limit: int = 100,
        instType: str = "SWAP",
    ) -> list[Bill]: ...

    # -- the pre-flight (athena.ops.preflight_checks) ---------------------------------------
    def server_time(self) -> int: ...

    def system_status(self, state: str | None = None) -> list[Maintenance]: ...

    def account_config(self) -> AccountConfig: ...

    def trade_fee(self, instType: str = "SWAP", instId: str | None = None) -> TradeFee: ...

    def leverage_info(self, instId: str, mgnMode: TdMode = TdMode.CROSS) -> list[LeverageInfo]: ...

    def set_leverage(
        self,
        instId: str,
        lever: Decimal | int,
        mgnMode: TdMode = TdMode.CROSS,
        posSide: PosSide | None = None,
    ) -> LeverageInfo: ...

    def set_position_mode(self, posMode: PosMode) -> PosMode: ...

    # -- orders -----------------------------------------------------------------------------
    def place_order(self, req: OrderRequest) -> OrderUpdate: ...

    def get_order(
        self, instId: str, clOrdId: str | None = None, ordId: str | None = None
    ) -> OrderUpdate | None:
        """None: the exchange does not know the order."""
        ...

    def cancel_order(self, instId: str, clOrdId: str | None = None, ordId: str | None = None) -> OrderAck: ...

    def amend_order(
        self,
        instId: str,
        clOrdId: str | None = None,
        ordId: str | None = None,
        newSz: Decimal | None = None,
        newPx: Decimal | None = None,
        reqId: str | None = None,
        cxlOnFail: bool = False,
    ) -> OrderAck: ...

    def orders_pending(self, instId: str | None = None, max_pages: int = 40) -> list[OrderUpdate]: ...

    def orders_history(
        self,
        instId: str | None = None,
        state: str | None = None,
        limit: int = 100,
        ordType: str | None = None,
        after: str | None = None,
    ) -> list[OrderUpdate]:
        """Finished orders (7 days), newest first; after: those older than that ordId."""
        ...

    def close_position(
        self,
        instId: str,
        mgnMode: TdMode = TdMode.CROSS,
        posSide: PosSide = PosSide.NET,
        clOrdId: str | None = None,
        autoCxl: bool = False,
    ) -> ClosePositionAck: ...

    def cancel_all_after(self, timeout_s: int) -> CancelAllAfter: ...

    # -- exchange-side stops (algo orders) --------------------------------------------------
    def place_algo(self, algo: AlgoOrder) -> AlgoOrder: ...

    def cancel_algos(
        self, instId: str, algoIds: Iterable[str] = (), algoClOrdIds: Iterable[str] = ()
    ) -> list[AlgoAck]: ...

    def algos_pending(
        self, instId: str | None = None, ordType: str = "conditional,oco", max_pages: int = 10
    ) -> list[AlgoOrder]: ...

    def close(self) -> None: ...
