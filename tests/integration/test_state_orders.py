"""OrderStore against a real Redis: create, apply, indexes, NOSCRIPT recovery."""

from __future__ import annotations

from decimal import Decimal

import pytest
import redis as redis_lib

from athena.domain import D, Order, OrderRequest, OrderState, OrderUpdate, OrdType, PosSide, Side, TdMode
from athena.state import Keys, OrderStore
from athena.state.orders import delta_px
from tests.waiting import wait_for


@pytest.fixture()
def store(redis_client: redis_lib.Redis) -> OrderStore:
    return OrderStore(redis_client, Keys("test", "acct1"))


def _order(cl: str = "s1abc1", **kw: object) -> Order:
    req = OrderRequest(
        clOrdId=cl,
        instId="BTC-USDT-SWAP",
        side=Side.BUY,
        ordType=OrdType.LIMIT,
        sz=D("1.50"),
        px=D("50000.10"),
        tdMode=TdMode.ISOLATED,
        posSide=PosSide.LONG,
        reduceOnly=False,
        strategy="scalpbtc",
        stop_loss_px=D("49000.0"),
        take_profit_px=None,
        tag="t1",
        **kw,  # type: ignore[arg-type]
    )
    return Order(req=req, cTime=1700000000000)


def _u(state: OrderState, cl: str = "s1abc1", **kw: object) -> OrderUpdate:
    return OrderUpdate(clOrdId=cl, instId="BTC-USDT-SWAP", state=state, **kw)  # type: ignore[arg-type]


def test_create_round_trips_exactly_and_refuses_duplicates(store: OrderStore) -> None:
    order = _order()
    assert store.create(order) is True
    assert store.create(order) is False  # a redelivered task
    got = store.get("s1abc1")
    assert got == order
    assert str(got.req.sz) == "1.50" and str(got.req.px) == "50000.10"  # exponent kept
    assert got.req.take_profit_px is None
    assert [o.clOrdId for o in store.working()] == ["s1abc1"]
    assert store.get("nope") is None


def test_apply_fills_once_and_indexes_ord_id(store: OrderStore) -> None:
    store.create(_order())
    t = store.apply(_u(OrderState.LIVE, ordId="111", accFillSz=D("0"), avgPx=D("0")))
    assert (t.applied, t.created, t.state, t.prev_state, t.fill_sz) == (
        True,
        False,
        OrderState.LIVE,
        OrderState.CREATED,
        0,
    )
    assert t.avg_px is None  # avgPx "0" before any fill is no price
    assert store.by_ord_id("111").clOrdId == "s1abc1"  # type: ignore[union-attr]

    t = store.apply(
        _u(OrderState.PARTIALLY_FILLED, ordId="111", accFillSz=D("0.5"), avgPx=D("50000.1"), fee=D("-0.01"))
    )
    assert t.fill_sz == D("0.5") and t.fill_px == D("50000.1")
    again = store.apply(_u(OrderState.PARTIALLY_FILLED, ordId="111", accFillSz=D("0.5"), avgPx=D("50000.1")))
    assert again.fill_sz == 0 and again.fill_px is None and not again.applied

    t = store.apply(_u(OrderState.FILLED, accFillSz=D("1.5"), avgPx=D("50000.0"), fee=D("-0.03")))
    assert t.fill_sz == D("1.0")
    assert t.fill_px == D("49999.95")  # (1.5*50000.0 - 0.5*50000.1) / 1.0
    assert t.order.fee == D("-0.03")
    assert store.working() == []

    # a stale 'live' afterwards changes nothing; terminal is final
    stale = store.apply(_u(OrderState.LIVE, accFillSz=D("0")))
    assert stale.state is OrderState.FILLED and not stale.applied
    late_cancel = store.apply(_u(OrderState.CANCELED, accFillSz=D("1.5")))
    assert late_cancel.state is OrderState.FILLED


def test_stale_state_still_raises_acc_fill(store: OrderStore) -> None:
    store.create(_order())
    store.apply(_u(OrderState.PARTIALLY_FILLED, accFillSz=D("0.5"), avgPx=D("100")))
    t = store.apply(_u(OrderState.LIVE, accFillSz=D("1.0"), avgPx=D("101")))
    assert t.state is OrderState.PARTIALLY_FILLED
    assert t.fill_sz == D("0.5") and t.fill_px == D("102")
    assert t.acc_fill_sz == D("1.0") and t.avg_px == D("101")


def test_unknown_order_is_created_from_update(store: OrderStore) -> None:
    t = store.apply(
        _u(
            OrderState.LIVE,
            cl="ext1",
            ordId="999",
            side=Side.SELL,
            ordType=OrdType.LIMIT,
            sz=D("2"),
            px=D("60000"),
            posSide=PosSide.NET,
            uTime=5,
        )
    )
    assert t.created and t.applied and t.state is OrderState.LIVE
    got = store.get("ext1")
    assert got is not None and got.req.side is Side.SELL and got.req.sz == D("2") and got.reason == "external"
    assert store.by_ord_id("999") == got
    assert [o.clOrdId for o in store.working("BTC-USDT-SWAP")] == ["ext1"]
    assert store.working("ETH-USDT-SWAP") == []


def test_missing_avg_uses_fill_px(store: OrderStore) -> None:
    store.create(_order())
    t = store.apply(_u(OrderState.PARTIALLY_FILLED, accFillSz=D("1"), fillSz=D("1"), fillPx=D("123.4")))
    assert t.fill_sz == 1 and t.fill_px == D("123.4") and t.avg_px is None
    # the same fill level with avgPx fills in what was missing, without a second fill
    t = store.apply(_u(OrderState.PARTIALLY_FILLED, accFillSz=D("1"), avgPx=D("123.4")))
    assert t.applied and t.fill_sz == 0 and t.avg_px == D("123.4")


def test_reloads_script_after_script_flush(store: OrderStore, redis_client: redis_lib.Redis) -> None:
    store.create(_order())
    store.apply(_u(OrderState.LIVE))
    redis_client.script_flush()  # what a Redis restart does to the script cache
    t = store.apply(_u(OrderState.CANCELED, accFillSz=D("0")))
    assert t.state is OrderState.CANCELED
    assert store.create(_order("s1abc2")) is True


def test_delta_px_rounds_non_terminating_quotients() -> None:
    px = delta_px(D("0"), None, D("3"), D("100.1"), None)
    assert px == D("100.1")
    px = delta_px(D("1"), D("100"), D("4"), D("100.1"), None)  # 300.4/3
    assert px == Decimal("100.133333333")
    assert delta_px(D("1"), D("1"), D("1"), D("1"), None) is None


def test_delta_px_long_decimals_never_raise() -> None:
    avg0 = D("50000.12345678901234567890123")  # 28 significant digits
    avg1 = D("50000.12345678901234567890124")
    px = delta_px(D("1"), avg0, D("3"), avg1, None)
    assert px is not None and abs(px - avg1) < D("1e-20")
    exact = delta_px(D("1"), avg0, D("2"), D("50000.12345678901234567890124"), None)
    assert exact == D("50000.12345678901234567890125")  # 2*avg1 - avg0, not rounded to 28 digits
    # beyond any sane precision the averages are given up for the update's fillPx, never an error
    assert delta_px(D("1"), D("1E-100"), D("2"), D("1E+100"), D("7")) == D("7")


def test_survives_a_real_redis_restart_with_persistence(tmp_path: object) -> None:
    """After a restart the script cache is empty (NOSCRIPT) while the data is back from the AOF."""
    from athena.testing.redis_server import RedisServer

    server = RedisServer(appendonly=True).start()
    client = redis_lib.Redis.from_url(server.url)
    try:
        store = OrderStore(client, Keys("test", "restart"))
        store.create(_order())
        store.apply(_u(OrderState.PARTIALLY_FILLED, accFillSz=D("0.5"), avgPx=D("100")))
        client.close()
        server.restart()
        client = redis_lib.Redis.from_url(server.url)
        store = OrderStore(client, Keys("test", "restart"))
        from athena.state import orders as orders_mod

        sha = orders_mod._APPLY._sha
        assert sha is not None and client.script_exists(sha) == [False]  # the next apply meets NOSCRIPT
        t = store.apply(_u(OrderState.FILLED, accFillSz=D("1.5"), avgPx=D("100")))
        assert not t.created and t.fill_sz == D("1.0") and t.fill_px == D("100")
        # an order Redis never saw (placed before an unpersisted restart) is recorded from the update
        t = store.apply(
            _u(OrderState.LIVE, cl="lost1", ordId="5", side=Side.BUY, ordType=OrdType.MARKET, sz=D("1"))
        )
        assert t.created and store.by_ord_id("5") is not None
    finally:
        client.close()
        server.stop()


def test_concurrent_appliers_emit_each_fill_once(redis_url: str) -> None:
    """Four clients (as four processes would) apply the same reports in different orders at once."""
    import random
    import threading

    keys = Keys("test", "conc")
    OrderStore(redis_lib.Redis.from_url(redis_url), keys).create(_order("c1"))
    updates = [
        _u(OrderState.PARTIALLY_FILLED, cl="c1", accFillSz=D(n) / 10, avgPx=D("100")) for n in range(1, 15)
    ]
    updates.append(_u(OrderState.FILLED, cl="c1", accFillSz=D("1.5"), avgPx=D("100")))
    emitted: list[Decimal] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        store = OrderStore(redis_lib.Redis.from_url(redis_url), keys)
        mine = list(updates) * 2
        random.Random(seed).shuffle(mine)
        for u in mine:
            t = store.apply(u)
            if t.filled:
                with lock:
                    emitted.append(t.fill_sz)
        store.redis.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert not any(th.is_alive() for th in threads)
    assert sum(emitted, D(0)) == D("1.5")
    final = OrderStore(redis_lib.Redis.from_url(redis_url), keys).get("c1")
    assert final is not None and final.state is OrderState.FILLED and final.accFillSz == D("1.5")


def test_finished_orders_expire_after_retention_and_index_is_pruned(redis_client: redis_lib.Redis) -> None:
    store = OrderStore(redis_client, Keys("test", "ret"), retention_s=60)
    store.create(_order("r1"))
    store.create(_order("r2"))
    store.apply(_u(OrderState.FILLED, cl="r1", ordId="11", accFillSz=D("1.5"), avgPx=D("1")))
    store.apply(_u(OrderState.LIVE, cl="r2", ordId="22"))
    assert 0 < redis_client.pttl(store.keys.order("r1")) <= 60_000  # kept for the retention
    assert redis_client.pttl(store.keys.order("r2")) == -1  # working orders never expire
    assert store.get("r1") is not None
    redis_client.pexpire(store.keys.order("r1"), 1)  # the retention runs out: Redis drops the order
    wait_for(lambda: store.get("r1") is None, what="the finished order to expire")
    assert store.prune_index() == 1
    assert store.cl_ord_id_of("11") is None and store.cl_ord_id_of("22") == "r2"
