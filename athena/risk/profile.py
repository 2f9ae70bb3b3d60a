"""RiskProfile: one strategy's limits, from its RiskProfileSettings."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from athena.config import RiskProfileSettings, Settings, StrategySettings


@dataclass(frozen=True, slots=True)
class RiskProfile:
    strategy: str
    leverage: Decimal
    stop_type: str
    max_order_notional: Decimal  # quote currency (USDT) per order
    max_orders_per_minute: int
    max_position: Decimal  # contracts per instrument

    @classmethod
    def from_settings(cls, strategy: str, s: RiskProfileSettings) -> RiskProfile:
        return cls(
            strategy=strategy,
            leverage=s.leverage,
            stop_type=s.stop_type,
            max_order_notional=s.max_order_notional,
            max_orders_per_minute=s.max_orders_per_minute,
            max_position=s.max_position,
        )

    @classmethod
    def for_strategy(cls, s: StrategySettings) -> RiskProfile:
        return cls.from_settings(s.name, s.risk)

    def leverage_cap(self, max_leverage: Decimal) -> Decimal:
        """The leverage actually allowed: the profile's, never above the global cap."""
        return min(self.leverage, max_leverage)


def profiles_from(settings: Settings) -> dict[str, RiskProfile]:
    """Profiles of the enabled strategies, by name."""
    return {s.name: RiskProfile.for_strategy(s) for s in settings.strategies if s.enabled}
