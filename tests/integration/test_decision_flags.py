"""The halt and a strategy's pause are read in the same atomic round trip as the entry decision's
capital numbers (athena.state.flags, CapitalCommander.consistent_view), and still stop entries."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
import redis

from athena.backtest.engine import Backtest
from athena.config import StrategySettings
from athena.state.flags import Flag, is_set, known

BTC = "BTC-USDT-SWAP"


@pytest.fixture()
def bt(redis_client: Any) -> Backtest:
    return Backtest(
        [StrategySettings(name="alpha", instIds=[BTC], allocation=D("0.5"))],
        redis_client,
        total_capital=D(10_000),
    )


def spy(monkeypatch: pytest.MonkeyPatch, client: Any) -> list[str]:
    names: list[str] = []
    orig = client.execute_command

    def counting(*args: Any, **kw: Any) -> Any:
        names.append(str(args[0]).upper())
        return orig(*args, **kw)

    monkeypatch.setattr(client, "execute_command", counting)
    return names


def buy(bt: Backtest, n: int) -> Any:
    ctx = bt.stack.strategies[0].ctx
    return ctx.buy(BTC, D("0.01"), D("100000.0") - n, post_only=True, stop_loss_px=D("99000.0"))


def test_an_entry_reads_its_switches_with_the_capital_snapshot(
    bt: Backtest, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    buy(bt, 0)  # warm-up: Lua scripts loaded, intent numbers reserved
    names = spy(monkeypatch, redis_client)
    intent = buy(bt, 1)
    assert intent.ok, intent.reason
    assert "EXISTS" not in names and "HEXISTS" not in names  # no separate halt / pause reads
    assert names[0] == "EVALSHA"  # the snapshot (capital + switches) comes first


def test_halt_and_pause_still_refuse_entries_and_are_never_remembered(bt: Backtest, redis_url: str) -> None:
    other = redis.Redis.from_url(redis_url)  # the operator's CLI, another process
    stack = bt.stack
    assert buy(bt, 1).ok
    stack.halt.halt("test halt", "pytest")
    refused = buy(bt, 2)
    assert not refused.ok and "halted" in refused.reason
    stack.halt.resume("pytest")
    assert buy(bt, 3).ok  # the next decision reads the switch again
    other.hset(stack.pause._key, "alpha", '{"reason": "cli"}')
    paused = buy(bt, 4)
    assert not paused.ok and paused.reason == "paused"
    other.hdel(stack.pause._key, "alpha")
    assert buy(bt, 5).ok
    assert not stack.halt.is_halted() and not stack.pause.is_paused("alpha")  # outside a decision: Redis
    other.close()


def test_known_answers_only_inside_its_block(redis_client: Any) -> None:
    flag, other = Flag("test:flags:a"), Flag("test:flags:h", "x")
    redis_client.delete(flag.key, other.key)
    with known({flag: True}):
        assert is_set(redis_client, flag)  # from the block, not Redis (the key does not exist)
        assert not is_set(redis_client, other)  # not given: asked of Redis
        redis_client.hset(other.key, "x", "1")
        assert is_set(redis_client, other)
        with known({other: False}):
            assert is_set(redis_client, flag) and not is_set(redis_client, other)
        assert is_set(redis_client, other)
    assert not is_set(redis_client, flag)
    redis_client.delete(other.key)
