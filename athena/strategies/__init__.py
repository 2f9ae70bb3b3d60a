"""Strategies: BaseStrategy, ScalperV1, the registry and the runner that routes bus events to them."""

from athena.strategies.base import BaseStrategy, OrderEvent, StrategyParamError, StrategyParams
from athena.strategies.context import Intent, StrategyContext
from athena.strategies.loader import StrategyLoadError, resolve
from athena.strategies.registry import build_strategies
from athena.strategies.runner import StrategyRunner
from athena.strategies.scalper_v1 import ScalperParams, ScalperV1

__all__ = [
    "BaseStrategy",
    "Intent",
    "OrderEvent",
    "ScalperParams",
    "ScalperV1",
    "StrategyContext",
    "StrategyLoadError",
    "StrategyParamError",
    "StrategyParams",
    "StrategyRunner",
    "build_strategies",
    "resolve",
]
