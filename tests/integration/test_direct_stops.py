"""DirectStopSender: the stream worker places a fill's stop itself (a side thread, the same
idempotent ensure_stop as submit_stop_loss) and hands it to the task when that fails."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from athena.domain import OrderRequest, OrdType, PosSide, Side, TdMode
from athena.engine import Engine
from athena.oms.sender import RecordingSender
from athena.oms.stops import StopRequest, record_stop_owner, stop_owner
from athena.ops import placement
from athena.ops import stops as stop_ops
from athena.ops.direct_stops import DEGRADED_S, DirectStopSender
from athena.sim.faults import Rule
from athena.sim.server import SimServer
from athena.state.keys import Keys
from tests.waiting import wait_for

BTC = "BTC-USDT-SWAP"


@pytest.fixture()
def engine(sim: SimServer, sim_engine: Callable[..., Engine]) -> Engine:
    sim.call(sim.market.step)
    return sim_engine(sim, "direct", RecordingSender())


def _filled_entry(engine: Engine, cl: str) -> StopRequest:
    placement.place(
        engine, OrderRequest(cl, BTC, Side.BUY, OrdType.MARKET, Decimal("0.05"), None, strategy="t")
    )
    sl = engine.instruments[BTC].px_down(engine.rest.ticker(BTC).last * Decimal("0.98"))
    return StopRequest(
        algoClOrdId=f"sl{cl}",
        entryClOrdId=cl,
        instId=BTC,
        side=Side.SELL,
        posSide=PosSide.NET,
        sz=Decimal("0.05"),
        slTriggerPx=sl,
        tdMode=TdMode.CROSS,
        strategy="t",
    )


def _wait(cond: Callable[[], bool]) -> None:
    wait_for(cond, what="the stop sender")


def test_stop_goes_to_the_exchange_from_the_stream_worker(engine: Engine) -> None:
    stop = _filled_entry(engine, "d1")
    fallback = RecordingSender()
    sender = DirectStopSender(fallback).bind(lambda: engine)
    try:
        sender.send_stop(stop)
        _wait(lambda: sender.placed == 1)
        assert sender.placed == 1 and fallback.stops == []  # no Celery task needed
        assert [(a.algoClOrdId, a.sz) for a in engine.rest.algos_pending(BTC)] == [("sld1", Decimal("0.05"))]
        sender.send_stop(stop)  # the same fill reported twice: covered, not doubled
        _wait(lambda: sender.placed == 2)
        assert len(engine.rest.algos_pending(BTC)) == 1
    finally:
        sender.close()


def test_a_failed_direct_stop_is_handed_to_the_task_and_later_ones_follow(
    engine: Engine, sim: SimServer
) -> None:
    stop = _filled_entry(engine, "d2")
    fallback = RecordingSender()
    now = [1000.0]  # the sender's monotonic clock, held still: the degraded period cannot run out here
    sender = DirectStopSender(fallback, clock=lambda: now[0]).bind(lambda: engine)
    try:
        sim.faults.rest_5xx = Rule(count=1, path="/api/v5/trade/order-algo")
        sender.send_stop(stop)
        _wait(lambda: len(fallback.stops) == 1)
        assert [s.algoClOrdId for s in fallback.stops] == ["sld2"] and sender.placed == 0
        assert sender.status()["degraded"]  # the next stops skip the struggling path for a while
        sender.send_stop(stop)
        assert len(fallback.stops) == 2
        now[0] += DEGRADED_S  # ... for DEGRADED_S: then the direct path is tried again
        assert not sender.status()["degraded"]
        sender.send_stop(stop)
        _wait(lambda: sender.placed == 1)
        assert len(fallback.stops) == 2
        # orders, cancels and reconciles always go through Celery
        sender.send_cancel_stop(BTC, "sld2")
        assert fallback.stop_cancels == [(BTC, "sld2")]
    finally:
        sender.close()


def test_an_ambiguous_direct_stop_is_handed_over_and_the_retry_finds_it(
    engine: Engine, sim: SimServer
) -> None:
    stop = _filled_entry(engine, "d3")
    fallback = RecordingSender()
    sender = DirectStopSender(fallback).bind(lambda: engine)
    try:
        # OKX placed the stop but answered 51149 "timed out": not placed as far as we know, not failed
        sim.faults.rest_scode = Rule(count=1, path="/api/v5/trade/order-algo")
        sim.faults.rest_scode_execute = True
        sender.send_stop(stop)
        _wait(lambda: len(fallback.stops) == 1)
        assert [s.algoClOrdId for s in fallback.stops] == ["sld3"] and sender.placed == 0
        # submit_stop_loss runs the same ensure_stop with the same algoClOrdId: 51065 -> it exists
        assert stop_ops.ensure_stop(engine, fallback.stops[0]).status == "covered"
        assert [(a.algoClOrdId, a.sz) for a in engine.rest.algos_pending(BTC)] == [("sld3", Decimal("0.05"))]
    finally:
        sender.close()


def test_unbound_sender_hands_every_stop_to_the_task() -> None:
    fallback = RecordingSender()
    sender = DirectStopSender(fallback)
    stop = StopRequest(
        algoClOrdId="slx",
        entryClOrdId="x",
        instId=BTC,
        side=Side.SELL,
        posSide=PosSide.NET,
        sz=Decimal("1"),
        slTriggerPx=Decimal("1"),
        tdMode=TdMode.CROSS,
        strategy="t",
    )
    sender.send_stop(stop)
    assert [s.algoClOrdId for s in fallback.stops] == ["slx"]


def test_a_stops_owner_is_recorded_and_read_back(redis_client: Any) -> None:
    """Whose stop it is decides which strategy a stop's fill is booked to (stop_owner)."""
    keys = Keys("test", "stopowner")
    assert stop_owner(redis_client, keys, "slE1") is None
    record_stop_owner(redis_client, keys, "slE1", "alpha", "E1")
    assert stop_owner(redis_client, keys, "slE1") == ("alpha", "E1")
    assert stop_owner(redis_client, keys, "slE2") is None  # another stop is still unknown
    assert redis_client.hgetall(keys.stop_owner("slE1")) == {b"strategy": b"alpha", b"entry": b"E1"}
