"""RiskConfig: the account-wide limits, from RiskSettings."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from athena.config import RiskSettings


@dataclass(frozen=True, slots=True)
class RiskConfig:
    risk_per_trade: Decimal  # fraction of equity at risk entry-to-stop per trade (0.01 = 1%)
    max_leverage: Decimal  # hard cap for every strategy (3x)
    max_drawdown: Decimal  # fraction below the high-water mark -> halt
    daily_loss_limit: Decimal  # fraction of the day's opening equity lost (realised) -> halt
    max_total_exposure: Decimal  # all positions' notional <= equity * this

    @classmethod
    def from_settings(cls, s: RiskSettings) -> RiskConfig:
        return cls(
            risk_per_trade=s.risk_per_trade,
            max_leverage=s.max_leverage,
            max_drawdown=s.max_drawdown,
            daily_loss_limit=s.daily_loss_limit,
            max_total_exposure=s.max_total_exposure,
        )
