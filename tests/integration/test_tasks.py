"""Every Celery task on a real worker (threads pool) over the private Redis, against the real sim.

Each test gets a fresh simulator and its own account namespace, so Redis keys never collide; the
worker's Engine is rebuilt from the test's Settings (tasks.reset_engine()).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from athena.config import Settings, get_settings, set_settings
from athena.domain import (
    AlgoOrder,
    AlgoState,
    Order,
    OrderRequest,
    OrderState,
    OrderUpdate,
    OrdType,
    PosSide,
    Side,
)
from athena.domain.codec import to_json
from athena.engine import Engine
from athena.oms.stops import StopRequest
from athena.ops.reconcile import GHOST_MIN_AGE_MS
from athena.sim.client import SimClient
from athena.sim.server import SimServer
from tests.waiting import TASK_TIMEOUT, wait_for, wait_until
from workers import tasks

pytestmark = pytest.mark.usefixtures("celery_worker")

BTC, ETH = "BTC-USDT-SWAP", "ETH-USDT-SWAP"


@dataclass
class World:
    sim: SimServer
    client: SimClient
    settings: Settings

    @property
    def engine(self) -> Engine:
        return tasks.engine()  # the very Engine the worker threads use

    def sim_orders(self, clOrdId: str) -> list[Any]:
        return [o for o in list(self.sim.exchange.orders.values()) if o.clOrdId == clOrdId]

    def sim_algos(self, instId: str | None = None) -> list[dict[str, Any]]:
        return [a for a in self.sim.exchange.state()["algos"] if instId is None or a["instId"] == instId]

    def sim_positions(self) -> list[dict[str, Any]]:
        return [p for p in self.sim.exchange.state()["positions"] if Decimal(p["pos"] or "0") != 0]

    def faults(self, **spec: Any) -> None:
        self.client.admin("faults", spec)


@pytest.fixture()
def world(sim: SimServer, sim_settings: Callable[..., Settings]) -> Iterator[World]:
    """Orders by REST: most placement tests here aim the sim's REST faults at /api/v5/trade/order."""
    yield from _world(sim, sim_settings, "rest")


@pytest.fixture()
def ws_world(sim: SimServer, sim_settings: Callable[..., Settings]) -> Iterator[World]:
    """Orders over the orders worker's private WebSocket (the default order entry)."""
    yield from _world(sim, sim_settings, "ws")


def _world(sim: SimServer, sim_settings: Callable[..., Settings], order_entry: str) -> Iterator[World]:
    previous = get_settings()
    settings = sim_settings(
        sim,
        "tasks",
        OKX_WS_PUBLIC_URL=sim.ws_url("public"),
        OKX_WS_PRIVATE_URL=sim.ws_url("private"),
        ATHENA_ORDER_ENTRY=order_entry,
        ATHENA__okx__timeout_s="1",
        ATHENA__schedule__breaker_threshold="3",
        ATHENA__schedule__breaker_open_s="1",
    )
    set_settings(settings)
    tasks.reset_engine()
    try:
        yield World(sim, SimClient(sim.url), settings)
    finally:
        tasks.reset_engine()
        set_settings(previous)


def run(task: Any, *args: Any, **kwargs: Any) -> Any:
    """Send through the broker to the worker and wait for the result."""
    return task.apply_async(args=args, kwargs=kwargs).get(timeout=TASK_TIMEOUT)


class ManualClock:
    """Epoch seconds held by the test (for the worker's PositionManager.clock); ms + 0.5 so that
    int(t * 1000) is exactly the ms set."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return (self.ms + 0.5) / 1000


def bid(world: World, instId: str = BTC) -> Decimal:
    return Decimal(world.sim.exchange.state()["markets"][instId]["bid"])


# Hand-sent entries face the pre-trade check in the worker: they name a configured strategy
# (config/base.json) and carry a stop within its 1% risk budget.
STRATEGY = {BTC: "scalpbtc", ETH: "scalpeth"}


def limit_buy(world: World, cl: str, instId: str = BTC, sz: str = "1", below: str = "0.99") -> dict[str, Any]:
    inst = world.engine.instruments[instId]
    px = inst.px_down(bid(world, instId) * Decimal(below))
    return to_json(
        OrderRequest(
            clOrdId=cl,
            instId=instId,
            side=Side.BUY,
            ordType=OrdType.POST_ONLY,
            sz=Decimal(sz),
            px=px,
            strategy=STRATEGY[instId],
            stop_loss_px=inst.px_down(px * Decimal("0.99")),
        )
    )


def market(
    world: World, cl: str, side: Side, instId: str = BTC, sz: str = "1", stop_pct: str = "0.01"
) -> dict[str, Any]:
    inst = world.engine.instruments[instId]
    ref = bid(world, instId)
    world.engine.marks.set(instId, ref)  # what the stream worker keeps: the check prices a market order by it
    stop = (
        inst.px_down(ref * (1 - Decimal(stop_pct)))
        if side is Side.BUY
        else inst.px_up(ref * (1 + Decimal(stop_pct)))
    )
    return to_json(
        OrderRequest(
            clOrdId=cl,
            instId=instId,
            side=side,
            ordType=OrdType.MARKET,
            sz=Decimal(sz),
            strategy=STRATEGY[instId],
            stop_loss_px=stop,
        )
    )


def covered(world: World, instId: str) -> Decimal:
    return sum((Decimal(a["sz"]) for a in world.sim_algos(instId) if a.get("slTriggerPx")), Decimal(0))


# -- placement -----------------------------------------------------------------------------------


def test_ping(world: World) -> None:
    assert run(tasks.ping) == "pong"


def test_redelivered_placement_places_once(world: World) -> None:
    req = limit_buy(world, "redeliv1")
    first = tasks.place_order.apply_async(args=[req])
    second = tasks.place_order.apply_async(args=[req])  # what a redelivery looks like to the worker
    results = [first.get(timeout=TASK_TIMEOUT), second.get(timeout=TASK_TIMEOUT)]
    assert sorted(r["status"] for r in results) in (["acked", "already"], ["acked", "found"])
    assert len(world.sim_orders("redeliv1")) == 1
    order = world.engine.store.get("redeliv1")
    assert (
        order is not None
        and str(order.state) == "live"
        and order.ordId == world.sim_orders("redeliv1")[0].ordId
    )
    assert run(tasks.place_order, req)["status"] == "already"  # a late third copy: still one order
    assert len(world.sim_orders("redeliv1")) == 1


def test_worker_died_after_sending_then_retry_finds_order_by_clordid(world: World) -> None:
    """The previous worker sent the order and died before recording the ack: the retried task
    queries by clOrdId and adopts the order instead of sending a second one."""
    req = limit_buy(world, "crashed1")
    eng = world.engine
    eng.redis.set(eng.keys.placing("crashed1"), "1")  # what placement writes before sending
    eng.rest.place_order(tasks.order_request_from_json(req))  # ... the send that made it out
    out = run(tasks.place_order, req)
    assert out["status"] == "found" and out["state"] == "live"
    assert len(world.sim_orders("crashed1")) == 1


def test_ambiguous_timeout_is_resolved_by_query_not_resend(world: World) -> None:
    # The sim holds the request well past the client's 1 s timeout, then executes it anyway.
    world.faults(rest_timeout={"count": 1, "path": "/api/v5/trade/order"}, rest_timeout_hold_s=4)
    # The request carries expTime = the client timeout, so the sim drops it once the hold ends;
    # the retried task queries by clOrdId, finds nothing and only then sends again (same clOrdId).
    out = run(tasks.place_order, limit_buy(world, "ambig1"))
    assert out["status"] in ("found", "acked"), out
    assert len(world.sim_orders("ambig1")) == 1
    assert str(world.engine.store.get("ambig1").state) == "live"  # type: ignore[union-attr]


def test_5xx_after_the_exchange_executed_is_found_not_doubled(world: World) -> None:
    # The exchange accepted the order, then the answer was lost in a 5xx: AMBIGUOUS -> query.
    world.faults(rest_5xx={"count": 1, "path": "/api/v5/trade/order"}, rest_5xx_execute=True)
    out = run(tasks.place_order, limit_buy(world, "ambig2"))
    assert out["status"] == "found", out
    assert len(world.sim_orders("ambig2")) == 1


def test_definite_rejection_is_final(world: World) -> None:
    world.faults(reject_orders=1, reject_code="51008")
    out = run(tasks.place_order, limit_buy(world, "reject1"))
    assert out["status"] == "rejected" and out["state"] == "rejected"
    assert "51008" in out["detail"]
    assert world.sim_orders("reject1") == []


def test_51149_after_the_exchange_placed_it_is_found_never_rejected(world: World) -> None:
    # OKX answered "Order timed out" (51149), but the order exists: AMBIGUOUS -> query by clOrdId.
    world.faults(rest_scode={"count": 1, "path": "/api/v5/trade/order"}, rest_scode_execute=True)
    out = run(tasks.place_order, limit_buy(world, "timedout1"))
    assert (out["status"], out["state"]) == ("found", "live"), out
    order = world.engine.store.get("timedout1")
    assert (
        order is not None and str(order.state) == "live" and order.reason == ""
    )  # no reject reason recorded
    assert order.ordId == world.sim_orders("timedout1")[0].ordId and len(world.sim_orders("timedout1")) == 1


def test_51149_before_the_exchange_placed_it_is_sent_again_with_the_same_clordid(world: World) -> None:
    world.faults(rest_scode={"count": 1, "path": "/api/v5/trade/order"}, rest_scode_execute=False)
    out = run(tasks.place_order, limit_buy(world, "timedout2"))
    assert out["status"] in ("acked", "found") and out["state"] == "live", out
    order = world.engine.store.get("timedout2")
    assert order is not None and str(order.state) == "live" and order.reason == ""
    assert len(world.sim_orders("timedout2")) == 1


def _ws_ready(world: World) -> None:
    from athena.okx.rest import OkxRestGateway

    gw = world.engine.rest
    assert isinstance(gw, OkxRestGateway) and gw.order_ws is not None
    assert wait_until(lambda: gw.order_ws is not None and gw.order_ws.ready, 10)


def test_an_order_over_the_websocket_is_acked_once(ws_world: World) -> None:
    _ws_ready(ws_world)
    out = run(tasks.place_order, limit_buy(ws_world, "wsplace1"))
    assert (out["status"], out["state"]) == ("acked", "live"), out
    assert len(ws_world.sim_orders("wsplace1")) == 1
    assert ws_world.engine.rest.stats["ws_orders"] == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("executed", [True, False])
def test_a_websocket_order_never_answered_is_settled_by_query_never_doubled(
    ws_world: World, executed: bool
) -> None:
    _ws_ready(ws_world)
    ws_world.faults(ws_op_timeout={"count": 1, "path": "/api/v5/trade/order"}, ws_op_timeout_execute=executed)
    cl = f"wsnoans{int(executed)}"
    out = run(tasks.place_order, limit_buy(ws_world, cl))
    # executed: the query finds it; not executed: expTime (= the 1 s timeout) has passed, so the query's
    # "not found" is final and the same clOrdId is sent again
    assert out["status"] in (("found",) if executed else ("acked", "found")) and out["state"] == "live", out
    assert len(ws_world.sim_orders(cl)) == 1
    order = ws_world.engine.store.get(cl)
    assert (
        order is not None and str(order.state) == "live" and order.ordId == ws_world.sim_orders(cl)[0].ordId
    )


def test_51149_on_the_websocket_after_the_exchange_placed_it_is_found(ws_world: World) -> None:
    _ws_ready(ws_world)
    ws_world.faults(ws_op_error={"count": 1, "path": "/api/v5/trade/order"}, ws_op_error_execute=True)
    out = run(tasks.place_order, limit_buy(ws_world, "ws51149"))
    assert (out["status"], out["state"]) == ("found", "live"), out
    assert len(ws_world.sim_orders("ws51149")) == 1


def test_transient_5xx_is_retried_with_the_same_clordid(world: World) -> None:
    world.faults(rest_5xx={"count": 1, "path": "/api/v5/trade/order"})
    out = run(tasks.place_order, limit_buy(world, "retry5xx"))
    assert out["status"] in ("acked", "found")
    assert len(world.sim_orders("retry5xx")) == 1


def test_halt_refuses_entries_at_the_last_gate_but_not_closes(world: World) -> None:
    run(tasks.place_order, market(world, "halt1", Side.BUY, sz="1"))
    run(tasks.halt, "test halt")
    out = run(tasks.place_order, limit_buy(world, "halted2"))
    assert out["status"] == "rejected" and out["detail"] == "halted"
    assert world.sim_orders("halted2") == []
    close = to_json(
        OrderRequest(
            clOrdId="haltclose",
            instId=BTC,
            side=Side.SELL,
            ordType=OrdType.MARKET,
            sz=Decimal(1),
            reduceOnly=True,
            strategy="t",
        )
    )
    assert run(tasks.place_order, close)["status"] in ("acked", "found")
    assert len(world.sim_orders("haltclose")) == 1
    run(tasks.resume)


def test_halt_cancels_the_working_entries_it_covers(world: World) -> None:
    """The athena.halt task (what `athena halt` sends once the switch is set): the strategy's or every
    working entry is cancelled on the exchange; reduce-only orders stay."""
    from athena.strategies.pause import StrategyPause

    for cl, inst in (("hbtc1", BTC), ("heth1", ETH)):
        assert run(tasks.place_order, limit_buy(world, cl, inst))["status"] == "acked"
    inst = world.engine.instruments[BTC]
    run(tasks.place_order, market(world, "hpos", Side.BUY))  # a position to hold a reduce-only take-profit
    tp = to_json(
        OrderRequest(
            clOrdId="htp1",
            instId=BTC,
            side=Side.SELL,
            ordType=OrdType.LIMIT,
            sz=Decimal(1),
            px=inst.px_up(bid(world) * Decimal("1.05")),
            reduceOnly=True,
            strategy="scalpbtc",
        )
    )
    assert run(tasks.place_order, tp)["status"] == "acked"

    paused = run(tasks.halt, "news", "test", strategy="scalpbtc")
    assert (
        paused["entries_cancelled"] == ["hbtc1"] and paused["paused"] == "scalpbtc" and paused["ok"] is True
    )
    assert StrategyPause(world.engine.redis, world.engine.keys).is_paused("scalpbtc")
    assert world.sim_orders("hbtc1")[0].state == "canceled" and world.sim_orders("heth1")[0].state == "live"
    assert not world.engine.halt.is_halted()

    halted = run(tasks.halt, "all", "test")
    assert halted["entries_cancelled"] == ["heth1"] and halted["halted"] is True and halted["newly"] is True
    assert world.sim_orders("heth1")[0].state == "canceled"
    assert world.sim_orders("htp1")[0].state == "live"  # the take-profit is reduce-only: it stays
    run(tasks.resume)
    StrategyPause(world.engine.redis, world.engine.keys).resume("scalpbtc")


def test_a_paused_strategys_queued_entry_is_refused_at_the_last_gate(world: World) -> None:
    """`athena halt --strategy` sets the pause in Redis with no worker running; an entry of that
    strategy already queued must not open a position when a worker takes it."""
    from athena.strategies.pause import StrategyPause

    pause = StrategyPause(world.engine.redis, world.engine.keys)
    pause.pause("scalpbtc", "news", "test")
    try:
        out = run(tasks.place_order, limit_buy(world, "paused1"))
        assert out["status"] == "rejected" and out["detail"] == "paused"
        assert world.sim_orders("paused1") == []
        assert (
            run(tasks.place_order, limit_buy(world, "notpaused1", ETH))["status"] == "acked"
        )  # another strategy
    finally:
        pause.resume("scalpbtc")


def test_cancel_and_amend(world: World) -> None:
    run(tasks.place_order, limit_buy(world, "amend1"))
    new_px = str(world.engine.instruments[BTC].px_down(bid(world) * Decimal("0.98")))
    assert run(tasks.amend_order, BTC, "amend1", newPx=new_px)["accepted"] is True
    assert world.sim_orders("amend1")[0].px == Decimal(new_px)
    assert run(tasks.cancel_order, BTC, "amend1")["accepted"] is True
    assert world.sim_orders("amend1")[0].state == "canceled"
    again = run(tasks.cancel_order, BTC, "amend1")  # redelivered cancel: the exchange's word settles it
    assert again["accepted"] is False
    assert str(world.engine.store.get("amend1").state) == "canceled"  # type: ignore[union-attr]


def test_reconcile_settles_orders_never_acknowledged(world: World) -> None:
    """Recorded, maybe sent, never acknowledged (the sender died): after the ambiguity window,
    reconcile asks the exchange by clOrdId. Found -> adopted; a stale entry not found -> rejected
    (never sent late); a close not found -> sent again under the same clOrdId."""
    eng = world.engine
    old = int(time.time() * 1000) - 120_000
    run(tasks.place_order, market(world, "pos1", Side.BUY, sz="2"))

    def record(payload: dict[str, Any]) -> None:
        req = tasks.order_request_from_json(payload)
        assert eng.store.create(Order(req=req, state=OrderState.CREATED, cTime=old, uTime=old))

    record(limit_buy(world, "unack1"))
    eng.rest.place_order(
        tasks.order_request_from_json(limit_buy(world, "unack1"))
    )  # it did reach the exchange
    record(limit_buy(world, "unack2"))  # it never did
    close = to_json(
        OrderRequest(
            clOrdId="unack3",
            instId=BTC,
            side=Side.SELL,
            ordType=OrdType.MARKET,
            sz=Decimal(1),
            reduceOnly=True,
            strategy="t",
        )
    )
    record(close)
    report = run(tasks.reconcile)
    got = {u["clOrdId"]: u["resolution"] for u in report["unconfirmed"]}
    assert got == {"unack1": "settled", "unack2": "rejected", "unack3": "resent"}
    assert str(eng.store.get("unack1").state) == "live"  # type: ignore[union-attr]
    assert str(eng.store.get("unack2").state) == "rejected" and world.sim_orders("unack2") == []  # type: ignore[union-attr]
    wait_for(lambda: len(world.sim_orders("unack3")) == 1, what="the close sent again")
    assert Decimal(world.sim_positions()[0]["pos"]) == 1


def test_reconcile_books_the_fill_of_an_order_in_a_state_athena_does_not_know(world: World) -> None:
    inst = world.engine.instruments[BTC]
    px = inst.px_up(bid(world) * Decimal("1.01"))  # crosses the ask: fills at once, the ack says live
    req = to_json(
        OrderRequest(
            clOrdId="newstate1",
            instId=BTC,
            side=Side.BUY,
            ordType=OrdType.LIMIT,
            sz=Decimal(1),
            px=px,
            strategy=STRATEGY[BTC],
            stop_loss_px=inst.px_down(px * Decimal("0.99")),
        )
    )
    run(tasks.place_order, req)
    (sim_order,) = world.sim_orders("newstate1")
    assert sim_order.state == "filled" and str(world.engine.store.get("newstate1").state) == "live"  # type: ignore[union-attr]
    world.sim.call(setattr, sim_order, "state", "mmp_paused")  # a state name OKX added after this code
    for _ in range(2):  # every reconcile reads it again: booked once
        run(tasks.reconcile)
        order = world.engine.store.get("newstate1")
        assert order is not None and str(order.state) == "filled" and order.accFillSz == 1
        assert [f.fillSz for f in world.engine.journal.fills(clOrdId="newstate1")] == [Decimal(1)]
        assert world.engine.positions.expected(BTC).sz == 1


# -- stops, protection, ghosts -------------------------------------------------------------------


def test_market_entry_gets_an_exchange_stop_and_reconcile_sees_no_drift(world: World) -> None:
    out = run(tasks.place_order, market(world, "entry1", Side.BUY, sz="2"))
    assert out["status"] in ("acked", "found")
    # The fill comes back on the REST query/ack path; its stop request is itself a task.
    run(tasks.reconcile)
    wait_for(lambda: covered(world, BTC) >= 2, what="stop covering the 2-contract entry")
    assert len(world.sim_positions()) == 1
    report = run(tasks.reconcile)
    assert report["ok"] is True and report["drift"] == []
    assert report["stops_live"] == 1


def test_protect_positions_replaces_a_deleted_stop(world: World) -> None:
    run(tasks.place_order, market(world, "entry2", Side.SELL, sz="3"))
    run(tasks.reconcile)
    wait_for(lambda: covered(world, BTC) >= 3, what="entry stop")
    algo = world.sim_algos(BTC)[0]
    world.client.post("/api/v5/trade/cancel-algos", [{"instId": BTC, "algoId": algo["algoId"]}])
    assert covered(world, BTC) == 0  # someone deleted the stop on the exchange
    report = run(tasks.protect_positions)
    assert report["checked"] == 1 and len(report["placed"]) == 1 and report["failed"] == []
    assert covered(world, BTC) == 3
    stop = world.sim_algos(BTC)[0]
    assert stop["side"] == "buy" and Decimal(stop["slTriggerPx"]) > bid(world)  # a short's stop is above
    assert run(tasks.protect_positions)["placed"] == []  # covered now: nothing more


@pytest.mark.parametrize("executed", [True, False])
def test_51149_on_a_stop_is_retried_with_the_same_algoclordid_never_stop_failed(
    world: World, executed: bool
) -> None:
    world.client.post(
        "/api/v5/trade/order",
        {"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "2"},
    )
    trigger = world.engine.instruments[BTC].px_down(bid(world) * Decimal("0.95"))
    stop = StopRequest(
        algoClOrdId="sltimedout",
        entryClOrdId="timedout",
        instId=BTC,
        side=Side.SELL,
        posSide=PosSide.NET,
        sz=Decimal(2),
        slTriggerPx=trigger,
        strategy="t",
    )
    world.faults(rest_scode={"count": 1, "path": "/api/v5/trade/order-algo"}, rest_scode_execute=executed)
    out = run(tasks.submit_stop_loss, to_json(stop))
    assert out["status"] in ("placed", "covered"), out
    assert [(a["algoClOrdId"], Decimal(a["sz"])) for a in world.sim_algos(BTC)] == [
        ("sltimedout", 2)
    ]  # exactly once
    assert world.engine.journal.events(kind="stop_failed") == []


def test_protect_positions_counts_a_51149_stop_as_unconfirmed_not_failed(world: World) -> None:
    world.client.post(
        "/api/v5/trade/order",
        {"instId": BTC, "tdMode": "cross", "side": "sell", "ordType": "market", "sz": "3"},
    )
    world.faults(rest_scode={"count": 1, "path": "/api/v5/trade/order-algo"}, rest_scode_execute=True)
    report = run(tasks.protect_positions)
    assert report["failed"] == [] and report["placed"] == [] and len(report["unconfirmed"]) == 1, report
    assert covered(world, BTC) == 3
    assert run(tasks.protect_positions)["placed"] == []  # the next run sees it: not doubled
    assert covered(world, BTC) == 3


def test_a_whole_position_stop_set_in_the_app_counts_as_covering(world: World) -> None:
    world.client.post(
        "/api/v5/trade/order",
        {"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "2"},
    )
    below = str(world.engine.instruments[BTC].px_down(bid(world) * Decimal("0.9")))
    got = world.client.post(
        "/api/v5/trade/order-algo",
        {  # TP/SL on the position, as the app sets it
            "instId": BTC,
            "tdMode": "cross",
            "side": "sell",
            "ordType": "conditional",
            "closeFraction": "1",
            "slTriggerPx": below,
            "slOrdPx": "-1",
            "reduceOnly": "true",
        },
    )
    assert got["data"][0]["sCode"] == "0" and world.sim_algos(BTC)[0]["sz"] == ""
    (algo,) = world.engine.rest.algos_pending(BTC)
    assert algo.whole_position and algo.sz is None
    report = run(tasks.protect_positions)
    assert report["checked"] == 1 and report["placed"] == [] and report["failed"] == []
    assert len(world.sim_algos(BTC)) == 1  # no second stop on top of the person's
    assert run(tasks.reconcile)["stops_live"] == 1
    ghosts = world.engine.positions.ghost_orders(
        [], [algo], world.engine.rest.positions(), now_ms=algo.uTime + 10**6
    )
    assert ghosts.stops == []  # never cancelled as a ghost while the position is open


def test_ghost_stop_without_position_is_cancelled(world: World) -> None:
    below = str(world.engine.instruments[BTC].px_down(bid(world) * Decimal("0.9")))
    world.client.post(
        "/api/v5/trade/order-algo",
        {
            "instId": BTC,
            "tdMode": "cross",
            "side": "sell",
            "ordType": "conditional",
            "sz": "1",
            "slTriggerPx": below,
            "slOrdPx": "-1",
            "reduceOnly": "true",
            "algoClOrdId": "ghoststop1",
        },
    )
    assert len(world.sim_algos(BTC)) == 1
    (stop,) = world.engine.rest.algos_pending(BTC)
    clock = world.engine.positions.clock = ManualClock(stop.uTime + GHOST_MIN_AGE_MS - 1)
    assert run(tasks.cancel_ghost_orders)["stops"] == []  # too young: its fill may be in flight
    clock.ms += 1  # exactly the minimum age
    world.faults(rest_scode={"count": 1, "path": "/api/v5/trade/cancel-algos"})  # "timed out": not cancelled
    report = run(tasks.cancel_ghost_orders)
    assert report["stops"] == [] and len(report["failed"]) == 1 and len(world.sim_algos(BTC)) == 1
    report = run(tasks.cancel_ghost_orders)
    assert len(report["stops"]) == 1 and report["failed"] == []
    assert world.sim_algos(BTC) == []


def test_cancel_stop_with_an_unknown_outcome_is_retried_until_cancelled(world: World) -> None:
    run(tasks.place_order, market(world, "entry3", Side.BUY, sz="2"))
    run(tasks.reconcile)
    wait_for(lambda: covered(world, BTC) >= 2, what="entry stop")
    (algo,) = world.sim_algos(BTC)
    world.faults(rest_scode={"count": 1, "path": "/api/v5/trade/cancel-algos"})
    out = run(tasks.cancel_stop, BTC, algo["algoClOrdId"])
    assert out["cancelled"] == [algo["algoClOrdId"]]
    assert world.sim_algos(BTC) == []  # really cancelled: the first answer was "timed out"


# -- sync breaker --------------------------------------------------------------------------------


def test_sync_positions_breaker_opens_for_everyone_then_closes(world: World) -> None:
    world.faults(rest_5xx={"rate": 1.0, "path": "/api/v5/account/positions"})
    result = run(tasks.sync_positions)  # retries 1 s, 2 s ... until the breaker (threshold 3) opens
    assert result["paused"] is True
    assert world.engine.breaker("sync_positions").is_open()
    assert run(tasks.sync_positions)["paused"] is True  # every caller sees it, no request made
    world.client.admin("faults/clear")
    wait_for(lambda: not world.engine.breaker("sync_positions").is_open(), what="breaker to close")
    result = run(tasks.sync_positions)
    assert "paused" not in result and result["drift"] == []


def test_sync_reports_a_fresh_difference_as_pending_then_corrects_it(world: World) -> None:
    # a position opened outside Athena: at first indistinguishable from a fill still in flight
    world.client.post(
        "/api/v5/trade/order",
        {"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "3"},
    )
    (opened,) = world.engine.rest.positions(BTC)
    settle_ms = world.engine.positions.settle_ms
    clock = world.engine.positions.clock = ManualClock(opened.uTime)  # seen the moment it changed
    first = run(tasks.sync_positions)
    assert first["drift"] == [] and [p["exchange_sz"] for p in first["pending"]] == ["3"]
    clock.ms += settle_ms - 1
    assert run(tasks.sync_positions)["drift"] == []  # 1 ms short of settled: still pending
    clock.ms += 1
    second = run(tasks.sync_positions)
    assert [d["corrected"] for d in second["drift"]] == ["True"] and second["pending"] == []
    assert world.engine.positions.expected(BTC).sz == 3


def test_reconcile_reports_capital_errors(world: World) -> None:
    """Reserved that disagrees with the open reservations (a release counted twice) and a clamp are
    accounting errors reconcile reports, and its ok says so."""
    from decimal import Decimal as D

    cap = world.engine.capital
    clean = run(tasks.reconcile)
    assert (
        clean["capital"] == {"clamps": 0, "recent_clamps": [], "reserved_mismatch": []}
        and clean["ok"] is True
    )
    assert cap.reserve("scalpbtc", "capx1", D(300), sz=D(1)).ok
    world.engine.redis.hset(
        world.engine.keys.capital_strategy("scalpbtc"), "reserved", "100"
    )  # 200 of it released elsewhere
    report = run(tasks.reconcile)
    assert report["capital"]["reserved_mismatch"] == [
        {"strategy": "scalpbtc", "reserved": "100", "held": "300"}
    ]
    assert report["ok"] is False
    assert cap.release("capx1") == D(300)  # would take reserved to -200: clamped, counted
    report = run(tasks.reconcile)
    assert report["capital"]["clamps"] == 1 and report["capital"]["reserved_mismatch"] == []
    assert [c["clOrdId"] for c in report["capital"]["recent_clamps"]] == ["capx1"] and report["ok"] is False


# -- flatten and the dead-man's switch -----------------------------------------------------------


def test_flatten_two_instruments_with_positions_orders_and_stops(world: World) -> None:
    run(tasks.place_order, market(world, "flatbtc", Side.BUY, BTC, sz="2"))
    run(tasks.place_order, market(world, "flateth", Side.SELL, ETH, sz="5"))
    run(tasks.place_order, limit_buy(world, "flatwork1", BTC))
    run(tasks.place_order, limit_buy(world, "flatwork2", ETH))
    run(tasks.reconcile)
    wait_for(lambda: covered(world, BTC) >= 2 and covered(world, ETH) >= 5, what="both entry stops")
    assert len(world.sim_positions()) == 2

    report = run(tasks.flatten, None, "test flatten")
    assert report["ok"] is True and report["halted"] is True
    assert sorted(report["orders_cancelled"]) == ["flatwork1", "flatwork2"]
    assert sorted(p["instId"] for p in report["positions_closed"]) == [BTC, ETH]
    assert len(report["stops_cancelled"]) == 2
    assert world.sim_positions() == [] and world.sim_algos() == []
    assert world.sim.exchange.state()["pending"] == []
    assert world.engine.halt.is_halted()
    # halted: a new entry is refused before it reaches the exchange, a resume lifts it
    run(tasks.resume)
    assert not world.engine.halt.is_halted()


def test_flatten_one_instrument_leaves_the_other(world: World) -> None:
    run(tasks.place_order, market(world, "onebtc", Side.BUY, BTC, sz="1"))
    run(tasks.place_order, market(world, "oneeth", Side.BUY, ETH, sz="1"))
    run(tasks.reconcile)
    wait_for(lambda: covered(world, BTC) >= 1 and covered(world, ETH) >= 1, what="entry stops")
    report = run(tasks.flatten, ETH, "eth only")
    assert report["ok"] is True and [p["instId"] for p in report["positions_closed"]] == [ETH]
    assert [p["instId"] for p in world.sim_positions()] == [BTC]
    assert covered(world, BTC) >= 1 and covered(world, ETH) == 0


def test_heartbeat_arms_and_refreshes_cancel_all_after(world: World) -> None:
    first = run(tasks.heartbeat)
    timeout = world.settings.schedule.dead_man_timeout
    assert first["timeOut"] == timeout
    caa = world.sim.exchange.state()["cancelAllAfter"]
    assert caa, "the exchange must hold an armed dead-man's switch"
    armed = int(first["triggerTime"])  # seconds, as OKX sends it for this endpoint only
    assert armed * 1000 >= first["at_ms"] + (timeout - 2) * 1000

    # refreshed, pushed further out (triggerTime is in whole seconds of the exchange's clock: the next
    # heartbeats are spaced 1 s apart by the client's rate limiter; one of them lands a second later)
    def moved_out() -> dict[str, Any] | None:
        beat: dict[str, Any] = run(tasks.heartbeat)
        return beat if int(beat["triggerTime"]) > armed else None

    second = wait_for(moved_out, what="a heartbeat that moves the trigger out")
    assert int(second["triggerTime"]) * 1000 >= second["at_ms"] + (timeout - 2) * 1000


def test_snapshot_equity_and_check_drawdown(world: World) -> None:
    snap = run(tasks.snapshot_equity)
    assert Decimal(snap["equity"]) == world.settings.total_capital
    dd = run(tasks.check_drawdown)
    assert dd["halted"] is False


def test_prune_indexes_drops_what_expired_orders_and_stops_left_in_the_indexes(world: World) -> None:
    """Beat's prune_indexes: once Redis has dropped a finished order or stop (its retention ran out),
    its ordId / algoId index entry goes too; a working order's stays."""
    eng = world.engine
    live = run(tasks.place_order, limit_buy(world, "prlive"))
    assert live["status"] == "acked" and live["ordId"]
    gone = Order(req=tasks.order_request_from_json(limit_buy(world, "prgone")), state=OrderState.CREATED)
    assert eng.store.create(gone)
    eng.store.apply(
        OrderUpdate(clOrdId="prgone", instId=BTC, state=OrderState.CANCELED, ordId="900001", uTime=1)
    )
    stop = AlgoOrder(
        algoClOrdId="slprgone", instId=BTC, side=Side.SELL, sz=Decimal(1), slTriggerPx=Decimal(1000)
    )
    assert eng.algos.record(stop)
    assert eng.algos.set_state("slprgone", AlgoState.CANCELED, algoId="800001")
    assert eng.store.cl_ord_id_of("900001") == "prgone" and eng.algos.by_algo_id("800001") is not None
    eng.redis.delete(eng.keys.order("prgone"), eng.keys.algo("slprgone"))  # their retention ran out
    assert run(tasks.prune_indexes) == {"orders": 1, "stops": 1}
    assert eng.redis.hget(eng.keys.ord_id_index, "900001") is None
    assert eng.redis.hget(eng.keys.algo_id_index, "800001") is None
    assert eng.store.cl_ord_id_of(live["ordId"]) == "prlive"
    assert run(tasks.prune_indexes) == {"orders": 0, "stops": 0}
