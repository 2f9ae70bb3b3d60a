"""Pure parts of athena.strategies: rolling accumulators, clock and TTL locks, params, registry, runner."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from athena.config import StrategySettings
from athena.domain import Order, OrderRequest, OrderState, OrdType, Side
from athena.strategies.base import BaseStrategy, OrderEvent, StrategyParamError
from athena.strategies.clock import MemoryLocks, SimClock
from athena.strategies.registry import build_strategies, exclusive_instruments, strategy_class
from athena.strategies.rolling import RollingSum, TradeFlow
from athena.strategies.runner import StrategyRunner
from athena.strategies.scalper_v1 import ScalperParams, ScalperV1

D = Decimal
decimals = st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False, allow_infinity=False)


@given(st.lists(decimals, max_size=60), st.integers(min_value=1, max_value=7))
def test_rolling_sum_equals_the_sum_of_the_window(values: list[Decimal], size: int) -> None:
    r = RollingSum(size)
    for i, v in enumerate(values):
        r.push(v)
        window = values[max(0, i + 1 - size) : i + 1]
        assert r.total == sum(window, D(0))
        assert len(r) == len(window)
        assert r.mean == sum(window, D(0)) / len(window)


def test_rolling_sum_edges() -> None:
    with pytest.raises(ValueError):
        RollingSum(0)
    r = RollingSum(2)
    assert r.mean is None and not r.full
    r.push(D(1))
    r.push(D(3))
    assert r.full and r.mean == D(2)
    r.clear()
    assert len(r) == 0 and r.total == 0


def test_trade_flow_ratio() -> None:
    f = TradeFlow(3)
    assert f.ratio is None
    f.push(D(1), True)
    f.push(D(3), False)
    assert f.ratio == D("-0.5")
    for _ in range(3):
        f.push(D(2), True)
    assert f.ratio == D(1) and len(f) == 3


def test_sim_clock_never_goes_back() -> None:
    c = SimClock(100)
    c.set(50)
    assert c.now_ms() == 100
    c.set(150)
    c.advance(-5)
    c.advance(10)
    assert c.now_ms() == 160


def test_memory_lock_set_nx_px_and_compare_and_delete() -> None:
    clock = SimClock(0)
    locks = MemoryLocks(clock)
    a, b = locks.lock("k", 1_000), locks.lock("k", 1_000)
    t1 = a.acquire()
    assert t1 is not None and b.acquire() is None and locks.held("k")
    assert b.release("bogus") is False and locks.held("k")
    assert a.release(t1) is True and not locks.held("k")
    t2 = b.acquire()
    clock.advance(999)
    assert a.acquire() is None
    clock.advance(1)
    assert not locks.held("k") and a.acquire() is not None  # expired without release
    assert b.release(t2) is False  # too late: it is someone else's now
    assert locks.lock("other", 10).acquire() is not None  # keys are independent
    with pytest.raises(ValueError):
        locks.lock("x", 0)


def test_params_defaults_and_errors_name_strategy_and_key() -> None:
    p = ScalperParams()
    assert p.cooldown_s == D(10) and p.tp_mode == "limit" and p.levels == 5
    with pytest.raises(StrategyParamError, match=r"strategy 's1': params\.tp_mode"):
        ScalperV1("s1", ["BTC-USDT-SWAP"], {"tp_mode": "maybe"}, ctx=_NoCtx())  # type: ignore[arg-type]
    with pytest.raises(StrategyParamError, match=r"params\.imbalance_threshold"):
        ScalperV1("s1", ["BTC-USDT-SWAP"], {"imbalance_threshold": "2"}, ctx=_NoCtx())  # type: ignore[arg-type]
    with pytest.raises(StrategyParamError, match="instIds must not be empty"):
        ScalperV1("s1", [], {}, ctx=_NoCtx())  # type: ignore[arg-type]


class _NoCtx:
    """Params are validated before the context is touched."""

    exclusive: frozenset[str] = frozenset()

    def lock(self, name: str, ttl_ms: int) -> Any:
        return MemoryLocks(SimClock(0)).lock(name, ttl_ms)


def test_registry_unknown_class_and_exclusive_instruments() -> None:
    assert strategy_class("ScalperV1") is ScalperV1
    with pytest.raises(StrategyParamError, match=r"strategy 'x': cls 'Nope' is unknown"):
        strategy_class("Nope", "x")
    a = StrategySettings(name="a", instIds=["BTC-USDT-SWAP", "ETH-USDT-SWAP"], allocation=D("0.3"))
    b = StrategySettings(name="b", instIds=["ETH-USDT-SWAP"], allocation=D("0.3"))
    off = StrategySettings(name="c", instIds=["BTC-USDT-SWAP"], allocation=D("0.3"), enabled=False)
    assert exclusive_instruments([a, b, off]) == {"a": frozenset({"BTC-USDT-SWAP"}), "b": frozenset()}
    made: list[str] = []

    def ctx(s: StrategySettings, excl: frozenset[str]) -> Any:
        made.append(s.name)
        return _NoCtx()

    built = build_strategies([a, b, off], ctx)
    assert [s.name for s in built] == made == ["a", "b"]


class _Recorder(BaseStrategy):
    def __init__(self, name: str, instIds: list[str]) -> None:
        super().__init__(name, instIds, {}, ctx=None)  # type: ignore[arg-type]
        self.seen: list[Any] = []

    def on_order(self, event: OrderEvent) -> None:
        self.seen.append(event)


def _order(cl: str, state: OrderState) -> Order:
    req = OrderRequest(cl, "BTC-USDT-SWAP", Side.BUY, OrdType.LIMIT, D(1), D(1), strategy="a")
    return Order(req=req, state=state)


def test_runner_routes_orders_to_their_owner_and_bounds_its_memory() -> None:
    a, b = _Recorder("a", ["BTC-USDT-SWAP"]), _Recorder("b", ["BTC-USDT-SWAP"])
    routes: dict[str, str] = {}
    runner = StrategyRunner([a, b], routes, keep_done=2)
    for i in range(4):
        routes[f"a{i}"] = "a"
        runner.on_order(_order(f"a{i}", OrderState.FILLED))
    runner.on_order(_order("zzz", OrderState.LIVE))  # nobody's order: ignored
    assert [e.clOrdId for e in a.seen] == ["a0", "a1", "a2", "a3"] and not b.seen
    assert set(routes) == {"a2", "a3"}  # routes of old terminal orders are dropped
    with pytest.raises(ValueError, match="unique"):
        StrategyRunner([a, _Recorder("a", ["X"])], {})
