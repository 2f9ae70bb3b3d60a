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
from athena.domain import Instrument, Order
from athena.oms.capital import CapitalCommander
from athena.oms.orders import OrderManager
from athena.oms.positions import PositionManager
from athena.oms.sender import OrderSender
from athena.risk import HaltSwitch, MarkBook, PreTradeCheck, RiskConfig, profiles_from
from athena.risk.rate import order_rate_counters
from athena.state.algos import AlgoStore
from athena.state.keys import Keys
from athena.state.orders import OrderStore
from athena.strategies.base import BaseStrategy
from athena.strategies.clock import MemoryLocks, SimClock
from athena.strategies.pause import StrategyPause
from athena.strategies.registry import build_strategies, context_factory, ledger_position
from athena.strategies.runner import StrategyRunner


@dataclass
class Stack:
    redis: Any
    keys: Keys
    settings: Settings
    bus: EventBus
    clock: SimClock
    instruments: dict[str, Instrument]
    store: OrderStore
    algos: AlgoStore
    orders: OrderManager
    positions: PositionManager
    capital: CapitalCommander
    halt: HaltSwitch
    pause: StrategyPause
    marks: MarkBook
    pretrade: PreTradeCheck
    locks: MemoryLocks
    routes: dict[str, str]
    strategies: list[BaseStrategy]
    runner: StrategyRunner
    errors: list[dict[str, Any]] = field(default_factory=list)
    fills: list[Any] = field(default_factory=list)

    def strategy(self, name: str) -> BaseStrategy:
        return self.runner.by_name[name]

    def seconds(self) -> float:
        return self.clock.now_ms() / 1000


def make_settings(
    strategies: Sequence[StrategySettings], total_capital: Decimal = Decimal(10_000), risk: RiskSettings | None = None
) -> Settings:
    return Settings(
        env="test", mode="sim", account="backtest", total_capital=total_capital,
        risk=risk or RiskSettings(), strategies=list(strategies),
    )


def build_stack(
    redis: Any,
    settings: Settings,
    instruments: dict[str, Instrument],
    sender: OrderSender,
    clock: SimClock,
    env: str = "backtest",
) -> Stack:
    """Wire one account's stack on `redis` (which the caller owns; keys live under athena:{env}:...)."""
    keys = Keys(env, settings.account)
    bus = EventBus()

    def now_s() -> float:
        return clock.now_ms() / 1000

    store = OrderStore(redis, keys)
    algos = AlgoStore(redis, keys)
    orders = OrderManager(store, bus, sender, clock=now_s, algos=algos)
    positions = PositionManager(redis, keys, bus, instruments=instruments, clock=now_s)
    capital = CapitalCommander(redis, keys, settings, clock=now_s)
    halt = HaltSwitch(redis, keys, clock=now_s)
    pause = StrategyPause(redis, keys, clock=now_s)
    marks = MarkBook(redis, keys, clock=now_s)
    pretrade = PreTradeCheck(
        profiles_from(settings), RiskConfig.from_settings(settings.risk), capital, halt, marks,
        order_rate_counters(redis, keys, clock=now_s),
    )
    locks = MemoryLocks(clock)
    routes: dict[str, str] = {}

    def book_fill(fill: Any) -> None:
        capital.on_fill(fill, instruments[fill.instId])

    def release(order: Order) -> None:
        capital.release(order.clOrdId)  # a cancelled/rejected order frees what it had reserved

    bus.subscribe(EventType.ORDER_FILLED, book_fill)
    bus.subscribe(EventType.ORDER_CANCELLED, release)

    make_ctx = context_factory(
        settings, orders=orders, pretrade=pretrade, capital=capital, instruments=instruments, clock=clock,
        locks=locks.lock, bus=bus, routes=routes, pause=pause, halt=halt, position_view=ledger_position(positions),
    )
    strategies = build_strategies(settings.strategies, make_ctx)
    runner = StrategyRunner(strategies, routes, lookup=orders.get)
    runner.attach(bus)
    stack = Stack(
        redis, keys, settings, bus, clock, instruments, store, algos, orders, positions, capital, halt,
        pause, marks, pretrade, locks, routes, strategies, runner,
    )
    bus.subscribe(EventType.ERROR, stack.errors.append)
    bus.subscribe(EventType.ORDER_FILLED, stack.fills.append)
    return stack
