"""The risk layer: global RiskConfig, per-strategy RiskProfile, the halt switch, pre-trade checks and
the drawdown breaker. Everything money-like is Decimal; an unknown price is None, never 0."""

from athena.risk.config import RiskConfig
from athena.risk.drawdown import DrawdownReport, check_drawdown
from athena.risk.halt import HaltState, HaltSwitch
from athena.risk.marks import MarkBook
from athena.risk.pretrade import Approved, PreTradeCheck, Reason, Rejected, size_for_risk
from athena.risk.profile import RiskProfile, profiles_from

__all__ = [
    "Approved",
    "DrawdownReport",
    "HaltState",
    "HaltSwitch",
    "MarkBook",
    "PreTradeCheck",
    "Reason",
    "Rejected",
    "RiskConfig",
    "RiskProfile",
    "check_drawdown",
    "profiles_from",
    "size_for_risk",
]
