"""What risk reads from the capital ledger: the pre-trade check's buying power, position and exposure,
and the drawdown breaker's equity and realised PnL. athena.oms.capital.CapitalCommander is the ledger
(mypy checks it against this where athena.wiring and athena.ops hand it to risk); risk depends on this
Protocol, never on the OMS, so the layers stay one way (an import-linter contract in pyproject.toml)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol

from athena.domain.ledger import EquityState, LedgerPosition


class CapitalLedger(Protocol):
    @property
    def total_capital(self) -> Decimal: ...

    # PreTradeCheck (athena.risk.pretrade)
    def free(self, strategy: str) -> Decimal: ...

    def position(self, instId: str, strategy: str | None = None) -> Decimal: ...

    def positions(self, strategy: str | None = None) -> list[LedgerPosition]: ...

    def gross_exposure(
        self, marks: Mapping[str, Decimal], ledger: list[LedgerPosition] | None = None
    ) -> Decimal: ...

    def equity(self, marks: Mapping[str, Decimal]) -> Decimal: ...

    # the drawdown breaker (athena.risk.drawdown)
    def update_equity(self, marks: Mapping[str, Decimal]) -> EquityState: ...

    def realised(self, strategy: str | None = None) -> Decimal: ...

    def daily_realised(self, strategy: str | None = None, day: str | None = None) -> Decimal: ...
