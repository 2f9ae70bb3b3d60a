"""ops.stops.ensure_stop places a first stop without listing pending algos first; an attempt that
placed it and died before recording is settled by the exchange's duplicate-id refusal (51065)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import pytest

from athena.domain import AlgoState, OrderRequest, OrdType, PosSide, Side, TdMode
from athena.engine import Engine
from athena.okx.errors import OkxAmbiguous
from athena.oms.stops import StopRequest
from athena.ops import placement
from athena.ops import stops as stop_ops
from athena.sim.server import SimServer
from tests.senders import NoSender

BTC = "BTC-USDT-SWAP"


@pytest.fixture()
def engine(sim: SimServer, sim_engine: Callable[..., Engine]) -> Engine:
    sim.call(sim.market.step)
    return sim_engine(sim, "stopfast", NoSender())


def test_first_stop_placed_then_covered_then_grown(engine: Engine) -> None:
    placement.place(
        engine, OrderRequest("fe1", BTC, Side.BUY, OrdType.MARKET, Decimal("0.05"), None, strategy="t")
    )
    mark = engine.rest.ticker(BTC).last
    sl = engine.instruments[BTC].px_down(mark * Decimal("0.98"))

    def req(sz: str) -> StopRequest:
        return StopRequest(
            algoClOrdId="slfe1",
            entryClOrdId="fe1",
            instId=BTC,
            side=Side.SELL,
            posSide=PosSide.NET,
            sz=Decimal(sz),
            slTriggerPx=sl,
            tdMode=TdMode.CROSS,
            strategy="t",
        )

    calls: list[str] = []
    real = engine.rest.algos_pending
    engine.rest.algos_pending = lambda *a, **kw: calls.append("list") or real(*a, **kw)  # type: ignore[method-assign]
    assert stop_ops.ensure_stop(engine, req("0.02")).status == "placed"
    assert calls == []  # the first stop goes straight to the exchange
    assert stop_ops.ensure_stop(engine, req("0.02")).status == "covered"
    engine.redis.delete(stop_ops._version_key(engine, "slfe1"))  # an attempt that died before recording
    assert stop_ops.ensure_stop(engine, req("0.02")).status == "covered"  # 51065 -> compared, not doubled
    out = stop_ops.ensure_stop(engine, req("0.05"))
    assert (out.status, out.algoClOrdId) == ("amended", "slfe1v1")
    assert [(a.algoClOrdId, a.sz) for a in real(BTC)] == [("slfe1v1", Decimal("0.05"))]


def _stop(sz: str, sl: Decimal) -> StopRequest:
    return StopRequest(
        algoClOrdId="slfe2",
        entryClOrdId="fe2",
        instId=BTC,
        side=Side.SELL,
        posSide=PosSide.NET,
        sz=Decimal(sz),
        slTriggerPx=sl,
        tdMode=TdMode.CROSS,
        strategy="t",
    )


def test_a_version_placed_by_a_lost_attempt_is_adopted_and_the_older_ones_cancelled(engine: Engine) -> None:
    placement.place(
        engine, OrderRequest("fe2", BTC, Side.BUY, OrdType.MARKET, Decimal("0.06"), None, strategy="t")
    )
    sl = engine.instruments[BTC].px_down(engine.rest.ticker(BTC).last * Decimal("0.98"))
    assert stop_ops.ensure_stop(engine, _stop("0.02", sl)).status == "placed"
    # an attempt to grow it to 0.04 placed version 1 and its answer was lost (51149) before it was recorded
    engine.rest.place_algo(stop_ops._algo_for(_stop("0.04", sl), "slfe2v1"))
    out = stop_ops.ensure_stop(engine, _stop("0.06", sl))  # the next fill: 0.06
    assert (out.status, out.algoClOrdId) == ("amended", "slfe2v2")
    assert [(a.algoClOrdId, a.sz) for a in engine.rest.algos_pending(BTC)] == [("slfe2v2", Decimal("0.06"))]
    assert stop_ops.current_version(engine, "slfe2") == 2


def test_a_duplicate_not_listed_yet_is_ambiguous_never_a_failure(engine: Engine) -> None:
    placement.place(
        engine, OrderRequest("fe2", BTC, Side.BUY, OrdType.MARKET, Decimal("0.02"), None, strategy="t")
    )
    sl = engine.instruments[BTC].px_down(engine.rest.ticker(BTC).last * Decimal("0.98"))
    engine.rest.place_algo(stop_ops._algo_for(_stop("0.02", sl), "slfe2"))  # placed; the answer was lost
    real = engine.rest.algos_pending
    engine.rest.algos_pending = lambda *a, **kw: []  # type: ignore[method-assign]  # OKX not showing it yet
    with pytest.raises(OkxAmbiguous):  # 51065 on the first id, absent from the list: unknown, retried
        stop_ops.ensure_stop(engine, _stop("0.02", sl))
    engine.rest.algos_pending = real  # type: ignore[method-assign]
    assert stop_ops.ensure_stop(engine, _stop("0.02", sl)).status == "covered"
    assert [a.algoClOrdId for a in real(BTC)] == ["slfe2"]


def test_a_grown_stop_stays_working_when_its_old_version_reports_cancelled(engine: Engine) -> None:
    """The exchange's 'canceled' push for a superseded version says nothing about the live version:
    the entry's stop record stays working, and the live version's own reports still apply."""
    placement.place(
        engine, OrderRequest("fe4", BTC, Side.BUY, OrdType.MARKET, Decimal("0.04"), None, strategy="t")
    )
    sl = engine.instruments[BTC].px_down(engine.rest.ticker(BTC).last * Decimal("0.98"))

    def req(sz: str) -> StopRequest:
        return StopRequest(
            algoClOrdId="slfe4",
            entryClOrdId="fe4",
            instId=BTC,
            side=Side.SELL,
            posSide=PosSide.NET,
            sz=Decimal(sz),
            slTriggerPx=sl,
            tdMode=TdMode.CROSS,
            strategy="t",
        )

    assert stop_ops.ensure_stop(engine, req("0.02")).status == "placed"
    first = engine.rest.algos_pending(BTC)[0]
    assert stop_ops.ensure_stop(engine, req("0.04")).algoClOrdId == "slfe4v1"
    (live,) = engine.rest.algos_pending(BTC)
    old_cancelled = replace(first, state=AlgoState.CANCELED, uTime=first.uTime + 1)
    assert not engine.algos.apply_report(old_cancelled)  # the pushes the stream worker applies
    assert engine.algos.apply_report(live)  # reconcile's listing of the live version
    assert [a.algoClOrdId for a in engine.algos.working(BTC)] == ["slfe4"]
    assert engine.algos.get("slfe4").algoId == live.algoId  # type: ignore[union-attr]
    # the flat-position cancel finds the record and takes every version off the exchange
    assert stop_ops.cancel_stop(engine, BTC, "slfe4") == ["slfe4v1"]
    assert engine.rest.algos_pending(BTC) == [] and engine.algos.working(BTC) == []
    triggered = replace(live, state=AlgoState.EFFECTIVE)
    assert not engine.algos.apply_report(triggered)  # final already: never revived or re-finalised


def test_the_live_version_triggering_finishes_the_stop(engine: Engine) -> None:
    placement.place(
        engine, OrderRequest("fe5", BTC, Side.BUY, OrdType.MARKET, Decimal("0.04"), None, strategy="t")
    )
    sl = engine.instruments[BTC].px_down(engine.rest.ticker(BTC).last * Decimal("0.98"))
    stop = StopRequest(
        algoClOrdId="slfe5",
        entryClOrdId="fe5",
        instId=BTC,
        side=Side.SELL,
        posSide=PosSide.NET,
        sz=Decimal("0.02"),
        slTriggerPx=sl,
        tdMode=TdMode.CROSS,
        strategy="t",
    )
    stop_ops.ensure_stop(engine, stop)
    stop_ops.ensure_stop(engine, replace(stop, sz=Decimal("0.04")))
    (live,) = engine.rest.algos_pending(BTC)
    assert live.algoClOrdId == "slfe5v1"
    assert engine.algos.apply_report(replace(live, state=AlgoState.EFFECTIVE))
    assert engine.algos.get("slfe5").state is AlgoState.EFFECTIVE and engine.algos.working(BTC) == []  # type: ignore[union-attr]
