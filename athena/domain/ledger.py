"""The capital ledger's values as its readers see them: one strategy's position in our books and the
account's equity against its high-water mark. Defined here, below both the OMS that keeps the ledger
(athena.oms.capital) and the risk checks that read it (athena.risk.capital), so risk needs no OMS class."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class LedgerPosition:
    strategy: str
    instId: str
    posSide: str
    qty: Decimal  # signed contracts
    avg_px: Decimal | None
    coin_per_contract: Decimal
    notional: Decimal  # at entry


@dataclass(frozen=True, slots=True)
class EquityState:
    equity: Decimal
    hwm: Decimal
    drawdown: Decimal  # fraction below hwm, >= 0
    complete: bool  # False when a mark was missing (hwm is then not raised)
