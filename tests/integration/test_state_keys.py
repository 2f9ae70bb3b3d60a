"""Key schema: every key under athena:{env}:{account}:, accounts and environments never collide."""

from __future__ import annotations

import pytest
import redis as redis_lib

from athena.domain import D, Order, OrderRequest, OrdType, Side
from athena.state import Keys, OrderStore

MEMBER = "\x00"  # stands for a member name (clOrdId, instId, ...) in a key family


def _schema(k: Keys) -> tuple[set[str], list[str]]:
    """(every single key, every family's prefix): all of Keys' properties and methods."""
    singles, families = set(), []
    for name, attr in vars(Keys).items():
        if name.startswith("_"):
            continue
        if isinstance(attr, property):
            singles.add(getattr(k, name))
        elif callable(attr):
            families.append(getattr(k, name)(*[MEMBER] * (attr.__code__.co_argcount - 1)).split(MEMBER)[0])
    return singles, families


def _all_keys(k: Keys) -> list[str]:
    singles, families = _schema(k)
    return sorted(singles) + [f + "m1" for f in families]


def test_every_key_is_namespaced_and_distinct() -> None:
    k = Keys("production", "main")
    keys = _all_keys(k)
    assert all(key.startswith("athena:production:main:") for key in keys)
    assert len(set(keys)) == len(keys)
    assert k.order("c1") == "athena:production:main:order:c1"
    assert not set(keys) & set(_all_keys(Keys("production", "other")))
    assert not set(keys) & set(_all_keys(Keys("test", "main")))


@pytest.mark.parametrize(("env", "account"), [("", "a"), ("e", ""), ("e:x", "a"), ("e", "a b")])
def test_bad_namespace_parts_are_refused(env: str, account: str) -> None:
    with pytest.raises(ValueError):
        Keys(env, account)


def test_two_accounts_share_one_redis_without_seeing_each_other(redis_client: redis_lib.Redis) -> None:
    a, b = OrderStore(redis_client, Keys("test", "a")), OrderStore(redis_client, Keys("test", "b"))
    order = Order(
        req=OrderRequest(clOrdId="same1", instId="X", side=Side.BUY, ordType=OrdType.MARKET, sz=D("1"))
    )
    assert a.create(order) and b.create(order)
    assert a.get("same1") == b.get("same1") == order
    assert all(key.decode().startswith("athena:test:") for key in redis_client.keys("*"))


def test_every_family_is_told_apart_by_its_prefix() -> None:
    singles, families = _schema(Keys("production", "main"))
    assert len(singles) + len(families) > 40  # the schema was read, not an empty class
    for a in families:
        assert not [b for b in families if b != a and b.startswith(a)], a


def test_a_backtest_writes_only_keys_of_the_schema(redis_client: redis_lib.Redis) -> None:
    """Every key the OMS, capital, the ledger, the stops and the strategies write is one Keys names."""
    from athena.backtest.engine import run_backtest
    from tests.integration.backtest_scenarios import one_strategy, tp_scenario

    run_backtest(tp_scenario(), one_strategy(), redis_client)
    singles, families = _schema(Keys("backtest", "backtest"))
    written = {key.decode() for key in redis_client.scan_iter(count=500)}
    assert len(written) > 10
    assert [key for key in written if key not in singles and not key.startswith(tuple(families))] == []
