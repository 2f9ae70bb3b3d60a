"""Key schema: every key under athena:{env}:{account}:, accounts and environments never collide."""

from __future__ import annotations

import pytest
import redis as redis_lib

from athena.domain import D, Order, OrderRequest, OrdType, Side
from athena.state import Keys, OrderStore


def _all_keys(k: Keys) -> list[str]:
    return [
        k.order("c1"), k.ord_id_index, k.working_orders, k.algo("a1"), k.algo_id_index, k.working_algos,
        k.lock("n"), k.lease("n"), k.fence("n"), k.counter("n"), k.breaker("n"), k.halt, k.events,
        k.mark("BTC-USDT-SWAP"), k.ledger("BTC-USDT-SWAP", "net"), k.capital, k.kv("n"),
        k.fill_outbox, k.outbox_claim("1-0"),
    ]


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
    order = Order(req=OrderRequest(clOrdId="same1", instId="X", side=Side.BUY, ordType=OrdType.MARKET, sz=D("1")))
    assert a.create(order) and b.create(order)
    assert a.get("same1") == b.get("same1") == order
    assert all(key.decode().startswith("athena:test:") for key in redis_client.keys("*"))
