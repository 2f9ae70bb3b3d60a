"""The trading stack a backtest (or a strategy test) runs: the SAME strategy, OMS, risk and capital code
as production, over a real Redis, with a simulated clock and in-memory TTL locks.

The sender is given by the caller: BacktestSender (the sim's matching engine, in process) for a
backtest, RecordingSender for tests that script the exchange's answers by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from athena.bus import EventBus, EventType
from athena.config import RiskSettings, Settings, StrategySettings
from athena.domain import Instrument
from athena.engine import Trading
from athena.oms.sender import OrderSender
from athena.state.keys import Keys
from athena.strategies.base import BaseStrategy
from athena.strategies.clock import MemoryLocks, SimClock
from athena.strategies.runner import StrategyRunner
from athena.wiring import account, parts_of, strategies, trading


@dataclass(kw_only=True, eq=False, repr=False)
class Stack(Trading):
    sim_clock: SimClock  # what `clock` reads, in seconds
    locks: MemoryLocks
    routes: dict[str, str]
    strategies: list[BaseStrategy]
    runner: StrategyRunner
    errors: list[dict[str, Any]] = field(default_factory=list)

    def strategy(self, name: str) -> BaseStrategy:
        return self.runner.by_name[name]


def make_settings(
    strategies: Sequence[StrategySettings],
    total_capital: Decimal = Decimal(10_000),
    risk: RiskSettings | None = None,
    strategies_dir: str = "",
) -> Settings:
    """strategies_dir: the folder strategy classes are also looked up in (athena.strategies.loader)."""
    return Settings(
        env="test",
        mode="sim",
        account="backtest",
        total_capital=total_capital,
        risk=risk or RiskSettings(),
        strategies=list(strategies),
        strategies_dir=strategies_dir,
    )


def build_stack(
    redis: Any,
    settings: Settings,
    instruments: dict[str, Instrument],
    sender: OrderSender,
    clock: SimClock,
    env: str = "backtest",
) -> Stack:
    """Wire one account's stack on `redis` (which the caller owns; keys live under athena:{env}:...),
    as athena.wiring wires the stream worker's: the simulated clock times everything, shared state too."""

    def now_s() -> float:
        return clock.now_ms() / 1000

    acct = account(settings, redis=redis, keys=Keys(env, settings.account), clock=now_s, shared_clock=now_s)
    oms = trading(acct, EventBus(), sender, instruments, journal=None)
    locks = MemoryLocks(clock)
    wired = strategies(oms, clock, locks.lock)
    stack = Stack(
        **parts_of(oms),
        sim_clock=clock,
        locks=locks,
        routes=wired.routes,
        strategies=wired.strategies,
        runner=wired.runner,
    )
    stack.bus.subscribe(EventType.ERROR, stack.errors.append)
    return stack
