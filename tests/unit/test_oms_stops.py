"""Stop policy: one deterministic stop per entry, sized to the entry's fills, never resurrected."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from athena.domain import (
    AlgoOrder,
    AlgoState,
    Order,
    OrderRequest,
    OrderState,
    OrdType,
    PosSide,
    Side,
    TdMode,
)
from athena.oms.sender import RecordingSender, SendFailed
from athena.oms.stops import (
    StopAction,
    StopRequest,
    alnum,
    is_entry,
    needs_stop,
    plan_stop,
    protective_stop_id,
    stop_id_for,
)


def req(
    cl: str = "s1BTCUSDT1",
    side: Side = Side.BUY,
    pos_side: PosSide = PosSide.NET,
    reduce: bool = False,
    sl: Decimal | None = Decimal("95000"),
) -> OrderRequest:
    return OrderRequest(
        cl,
        "BTC-USDT-SWAP",
        side,
        OrdType.LIMIT,
        Decimal("3"),
        Decimal("100000"),
        tdMode=TdMode.ISOLATED,
        posSide=pos_side,
        reduceOnly=reduce,
        strategy="s1",
        stop_loss_px=sl,
    )


def test_stop_id_is_deterministic_and_valid() -> None:
    assert stop_id_for("s1BTCUSDT1") == stop_id_for("s1BTCUSDT1") == "sls1BTCUSDT1"
    long_id = "A" * 32
    sid = stop_id_for(long_id)
    assert len(sid) == 32 and sid.isalnum() and sid == stop_id_for(long_id)
    assert stop_id_for("A" * 31 + "B") != sid


@pytest.mark.parametrize(
    ("side", "pos_side", "reduce", "entry"),
    [
        (Side.BUY, PosSide.NET, False, True),
        (Side.SELL, PosSide.NET, False, True),
        (Side.SELL, PosSide.NET, True, False),
        (Side.BUY, PosSide.LONG, False, True),
        (Side.SELL, PosSide.LONG, False, False),  # closes the long: implicitly reduce-only
        (Side.SELL, PosSide.SHORT, False, True),
        (Side.BUY, PosSide.SHORT, False, False),
    ],
)
def test_is_entry(side: Side, pos_side: PosSide, reduce: bool, entry: bool) -> None:
    assert is_entry(req(side=side, pos_side=pos_side, reduce=reduce)) is entry


def test_stop_request_for_entry_is_opposite_side_and_reduce_only() -> None:
    stop = StopRequest.for_entry(req(side=Side.BUY, pos_side=PosSide.LONG), Decimal("2"))
    assert (stop.side, stop.posSide, stop.sz, stop.slTriggerPx) == (
        Side.SELL,
        PosSide.LONG,
        Decimal("2"),
        Decimal("95000"),
    )
    assert stop.tdMode is TdMode.ISOLATED and stop.entryClOrdId == "s1BTCUSDT1"
    body = stop.to_okx()
    assert body == {
        "instId": "BTC-USDT-SWAP",
        "tdMode": "isolated",
        "side": "sell",
        "ordType": "conditional",
        "sz": "2",
        "slTriggerPx": "95000",
        "slOrdPx": "-1",
        "slTriggerPxType": "last",
        "algoClOrdId": "sls1BTCUSDT1",
        "posSide": "long",
    }
    net = StopRequest.for_entry(req(side=Side.SELL), Decimal("1")).to_okx()
    assert net["reduceOnly"] is True and "posSide" not in net and net["side"] == "buy"
    assert stop.to_algo().sz == Decimal("2") and stop.to_algo().state is AlgoState.LIVE
    assert stop.strategy == "s1"  # the stop's fills are booked to the entry's strategy
    algo = stop.to_algo()
    assert (algo.tdMode, algo.slTriggerPxType, algo.reduceOnly, algo.uTime) == (
        TdMode.ISOLATED,
        "last",
        True,
        0,
    )
    resized = StopRequest.resize(replace(algo, slTriggerPxType="mark"), Decimal("1"))
    assert (resized.entryClOrdId, resized.sz, resized.slTriggerPxType, resized.exact, resized.tdMode) == (
        "s1BTCUSDT1",
        Decimal("1"),
        "mark",
        True,
        TdMode.ISOLATED,
    )
    assert replace(stop, slTriggerPxType="mark").to_algo().slTriggerPxType == "mark"
    assert StopRequest.resize(replace(algo, algoClOrdId="ppBTCUSDTn1"), Decimal("1")).entryClOrdId == ""


def test_stop_request_needs_a_stop_price() -> None:
    assert not needs_stop(req(sl=None))
    with pytest.raises(ValueError, match="s1BTCUSDT1: entry has no stop_loss_px"):
        StopRequest.for_entry(req(sl=None), Decimal("1"))


def order(state: OrderState, acc: str, r: OrderRequest | None = None) -> Order:
    return Order(req=r or req(), state=state, accFillSz=Decimal(acc))


def test_plan_places_then_amends_up_then_nothing() -> None:
    first = plan_stop(order(OrderState.PARTIALLY_FILLED, "1"), None)
    assert first.action is StopAction.PLACE and first.stop is not None and first.stop.sz == Decimal("1")
    live = first.stop.to_algo()
    grow = plan_stop(order(OrderState.FILLED, "3"), live)
    assert grow.action is StopAction.AMEND and grow.stop is not None and grow.stop.sz == Decimal("3")
    done = plan_stop(order(OrderState.FILLED, "3"), grow.stop.to_algo())
    assert done.action is StopAction.NONE
    whole = replace(live, sz=None, closeFraction=Decimal(1))  # closes the whole position: covers any fill
    assert plan_stop(order(OrderState.FILLED, "3"), whole).action is StopAction.NONE
    no_stop = plan_stop(order(OrderState.FILLED, "3", req(sl=None)), None)
    for plan in (
        first,
        grow,
        done,
        no_stop,
        plan_stop(order(OrderState.LIVE, "0"), None),
        plan_stop(order(OrderState.FILLED, "3"), replace(live, state=AlgoState.EFFECTIVE)),
    ):
        assert (plan.algoClOrdId, plan.instId) == (
            "sls1BTCUSDT1",
            "BTC-USDT-SWAP",
        )  # every plan names its stop


def test_plan_never_resurrects_a_finished_stop() -> None:
    fired = StopRequest.for_entry(req(), Decimal("1")).to_algo(state=AlgoState.EFFECTIVE)
    assert plan_stop(order(OrderState.FILLED, "3"), fired).action is StopAction.NONE


def test_plan_cancels_stop_of_entry_canceled_unfilled() -> None:
    live = StopRequest.for_entry(req(), Decimal("1")).to_algo()
    plan = plan_stop(order(OrderState.CANCELED, "0"), live)
    assert plan.action is StopAction.CANCEL and plan.algoClOrdId == "sls1BTCUSDT1"
    assert plan_stop(order(OrderState.CANCELED, "0"), None).action is StopAction.NONE
    assert plan_stop(order(OrderState.LIVE, "0"), None).action is StopAction.NONE


def test_plan_ignores_exits_and_entries_without_stop() -> None:
    assert (
        plan_stop(order(OrderState.FILLED, "3", req(side=Side.SELL, reduce=True)), None).action
        is StopAction.NONE
    )
    assert plan_stop(order(OrderState.FILLED, "3", req(sl=None)), None).action is StopAction.NONE


def test_protective_stop_for_an_unprotected_position() -> None:
    from athena.domain import Position

    short = Position(
        "BTC-USDT-SWAP",
        PosSide.NET,
        Decimal("-4"),
        Decimal("100"),
        mgnMode=TdMode.ISOLATED,
        uTime=1700000000123,
    )
    stop = StopRequest.for_position(short, Decimal("105"), short.uTime)
    assert (stop.side, stop.sz, stop.tdMode, stop.entryClOrdId) == (
        Side.BUY,
        Decimal("4"),
        TdMode.ISOLATED,
        "",
    )
    assert (stop.instId, stop.posSide, stop.slTriggerPx) == ("BTC-USDT-SWAP", PosSide.NET, Decimal("105"))
    assert (
        stop.algoClOrdId
        == "ppBTCUSDTn1700000000123"
        == StopRequest.for_position(short, Decimal("106"), short.uTime).algoClOrdId
    )
    long_row = Position("1000PEPE-USDT-SWAP", PosSide.LONG, Decimal("2"), None, uTime=1)
    ls = StopRequest.for_position(long_row, Decimal("1"), "x" * 40, sz=Decimal("1"))
    assert (
        ls.side is Side.SELL
        and ls.sz == Decimal("1")
        and len(ls.algoClOrdId) == 32
        and ls.algoClOrdId.isalnum()
    )
    assert ls.algoClOrdId.startswith("pph")  # hashed, and still recognisable as a protective stop
    assert (
        ls.algoClOrdId == "pphcd28251f71e2709031fc06505c2d7"
    )  # stable: a redelivered task names the same stop
    base = protective_stop_id(long_row.instId, long_row.posSide, "")
    fill_up = "1" * (32 - len(base))
    assert (
        protective_stop_id(long_row.instId, long_row.posSide, fill_up) == base + fill_up
    )  # 32: kept as it is
    assert alnum("BTC-USDT_é1") == "BTCUSDT1"  # OKX ids are ASCII letters and digits only
    with pytest.raises(ValueError, match="BTC-USDT-SWAP/net: a flat position needs no stop"):
        StopRequest.for_position(Position("BTC-USDT-SWAP", PosSide.NET, Decimal(0), None), Decimal("1"), 1)


def test_fit_stops_trims_the_newest_first() -> None:
    from athena.domain import Position
    from athena.oms.stops import fit_stops

    def stop(cl: str, sz: str, t: int, side: Side = Side.SELL) -> AlgoOrder:
        return StopRequest.for_entry(req(cl, side=side.opposite), Decimal(sz)).to_algo(uTime=t)

    old, new, wrong = stop("e1", "2", 1), stop("e2", "3", 2), stop("e3", "5", 3, Side.BUY)
    long4 = Position("BTC-USDT-SWAP", PosSide.NET, Decimal(4), Decimal(100))
    assert fit_stops(long4, [new, old, wrong]) == [(new, Decimal(2))]
    long1 = Position("BTC-USDT-SWAP", PosSide.NET, Decimal(1), Decimal(100))
    assert fit_stops(long1, [new, old]) == [(old, Decimal(1)), (new, Decimal(0))]
    assert fit_stops(Position("BTC-USDT-SWAP", PosSide.NET, Decimal(9), None), [new, old]) == []
    flat = Position("BTC-USDT-SWAP", PosSide.NET, Decimal(0), None)
    assert fit_stops(flat, [old, wrong]) == [(old, Decimal(0)), (wrong, Decimal(0))]
    resized = StopRequest.resize(new, Decimal(2))
    assert (
        resized.exact
        and resized.entryClOrdId == "e2"
        and resized.sz == Decimal(2)
        and resized.side is Side.SELL
    )
    # only this position's working stops count: not another instrument's, not a finished one
    eth = replace(old, instId="ETH-USDT-SWAP", algoClOrdId="eth")
    fired = replace(old, state=AlgoState.EFFECTIVE, algoClOrdId="fired")
    assert fit_stops(flat, [old, eth, fired]) == [(old, Decimal(0))]
    # a short is closed by buy stops; a sell stop on it is not one of its stops
    short1 = Position("BTC-USDT-SWAP", PosSide.NET, Decimal(-1), Decimal(100))
    assert fit_stops(short1, [wrong, old]) == [(wrong, Decimal(1))]
    # a whole-position stop (no size) is never oversized, and the stops after it are still fitted
    whole = replace(old, sz=None, closeFraction=Decimal(1), algoClOrdId="whole", uTime=0)
    assert fit_stops(long1, [whole, new, old]) == [(old, Decimal(1)), (new, Decimal(0))]


def test_the_recording_sender_fails_as_many_sends_as_asked_and_says_which() -> None:
    """RecordingSender is the real in-memory sender the OMS tests drive the AMBIGUOUS path with."""
    sender = RecordingSender(fail_next=2)
    stop = StopRequest.for_entry(req(), Decimal("1"))
    with pytest.raises(SendFailed, match="injected failure on send_order s1BTCUSDT1"):
        sender.send_order(req())
    with pytest.raises(SendFailed, match="injected failure on send_stop sls1BTCUSDT1"):
        sender.send_stop(stop)
    sender.send_order(req())
    assert sender.orders == [req()] and sender.stops == [] and sender.fail_next == 0
    for send, what in (
        (lambda: sender.send_cancel("BTC-USDT-SWAP", "c1"), "send_cancel c1"),
        (lambda: sender.send_cancel_stop("BTC-USDT-SWAP", "a1"), "send_cancel_stop a1"),
    ):
        sender.fail_next = 1
        with pytest.raises(SendFailed, match=f"injected failure on {what}$"):
            send()
