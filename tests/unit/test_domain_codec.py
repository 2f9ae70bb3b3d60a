"""codec: domain objects <-> JSON-safe dicts, exact round trips and strict parsing."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from athena.domain import (
    AlgoOrder,
    AlgoState,
    D,
    Fill,
    Order,
    OrderRequest,
    OrderState,
    OrderUpdate,
    OrdType,
    Position,
    PosSide,
    Side,
    TdMode,
)
from athena.domain.codec import (
    CodecError,
    algo_order_from_json,
    fill_from_json,
    from_json,
    order_from_json,
    order_request_from_json,
    order_update_from_json,
    position_from_json,
    to_json,
)

REQ = OrderRequest(
    clOrdId="s1abc",
    instId="BTC-USDT-SWAP",
    side=Side.SELL,
    ordType=OrdType.LIMIT,
    sz=D("1.50"),
    px=D("5E+4"),
    tdMode=TdMode.ISOLATED,
    posSide=PosSide.SHORT,
    reduceOnly=True,
    strategy="scalpbtc",
    stop_loss_px=D("50100.0"),
)
OBJECTS: list[Any] = [
    REQ,
    OrderRequest(clOrdId="m1", instId="ETH-USDT-SWAP", side=Side.BUY, ordType=OrdType.MARKET, sz=D("0.01")),
    OrderUpdate(
        clOrdId="s1abc",
        instId="BTC-USDT-SWAP",
        state=OrderState.PARTIALLY_FILLED,
        ordId="42",
        accFillSz=D("0.5"),
        avgPx=D("50000.05"),
        fillSz=D("0.5"),
        fillPx=D("50000.05"),
        fee=D("-0.01"),
        side=Side.SELL,
        uTime=9,
        source="ws",
    ),
    OrderUpdate(
        clOrdId="x1", instId="BTC-USDT-SWAP", state=OrderState.REJECTED, sCode="51008", sMsg="Insufficient"
    ),
    Order(
        req=REQ,
        state=OrderState.LIVE,
        ordId="42",
        accFillSz=D("0.00"),
        avgPx=None,
        fee=D("0"),
        cTime=1,
        uTime=2,
    ),
    Fill(
        clOrdId="s1abc",
        instId="BTC-USDT-SWAP",
        side=Side.SELL,
        posSide=PosSide.SHORT,
        fillSz=D("0.5"),
        fillPx=D("50000.123456789012345678901234"),
        accFillSz=D("0.5"),
        fee=D("-1E-8"),
        tradeId="t1",
    ),
    AlgoOrder(
        algoClOrdId="sl1",
        instId="BTC-USDT-SWAP",
        side=Side.BUY,
        sz=D("1.5"),
        slTriggerPx=D("51000"),
        state=AlgoState.LIVE,
        algoId="7",
        posSide=PosSide.SHORT,
    ),
    Position(
        instId="BTC-USDT-SWAP",
        posSide=PosSide.NET,
        pos=D("-1.5"),
        avgPx=D("50000.05"),
        markPx=None,
        upl=D("-0.3"),
        extra={"adl": "1"},
    ),
    Position(instId="BTC-USDT-SWAP", posSide=PosSide.NET, pos=D("0"), avgPx=None),
]
PARSERS = {
    OrderRequest: order_request_from_json,
    OrderUpdate: order_update_from_json,
    Order: order_from_json,
    Fill: fill_from_json,
    AlgoOrder: algo_order_from_json,
    Position: position_from_json,
}


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: type(o).__name__)
def test_round_trip_exact_through_real_json(obj: Any) -> None:
    wire = json.loads(json.dumps(to_json(obj)))  # proves it is JSON-safe
    back = PARSERS[type(obj)](wire)
    assert back == obj
    assert from_json(wire) == obj
    for name in ("sz", "px", "fillPx", "fee", "avgPx", "pos"):  # exponent kept, not just equal
        if hasattr(obj, name) and getattr(obj, name) is not None:
            assert str(getattr(back, name)) == str(getattr(obj, name))


def test_encoding_shape() -> None:
    j = to_json(OBJECTS[4])
    assert j["_type"] == "Order" and j["state"] == "live" and j["avgPx"] is None and j["accFillSz"] == "0.00"
    assert j["req"]["px"] == "5E+4" and j["req"]["side"] == "sell" and j["req"]["take_profit_px"] is None
    assert to_json({"a": [D("1.0"), None, Side.BUY]}) == {"a": ["1.0", None, "buy"]}


def test_float_refused_both_ways() -> None:
    with pytest.raises(CodecError, match="float"):
        to_json({"px": 1.5})
    wire = to_json(OBJECTS[5])
    wire["fillPx"] = 50000.1
    with pytest.raises(CodecError, match="fillPx"):
        fill_from_json(wire)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda w: w.update(bogus=1), "unknown keys"),
        (lambda w: w.pop("instId"), "instId"),
        (lambda w: w.update(side="up"), "side"),
        (lambda w: w.update(fillSz="abc"), "fillSz"),
        (lambda w: w.update(fillSz=None), "null"),
        (lambda w: w.update(ts="5"), "ts"),
        (lambda w: w.update(reduceOnly="true"), "reduceOnly"),
        (lambda w: w.update(_type="Order"), "expected Fill"),
    ],
)
def test_strict_parsing_names_the_field(mutate: Any, match: str) -> None:
    wire = to_json(OBJECTS[5])
    mutate(wire)
    with pytest.raises(CodecError, match=match):
        fill_from_json(wire)


def test_from_json_needs_a_known_tag() -> None:
    with pytest.raises(CodecError):
        from_json({"_type": "Nope"})
    with pytest.raises(CodecError):
        from_json({})


def test_invalid_request_is_refused_by_domain_rules() -> None:
    wire = to_json(REQ)
    wire["clOrdId"] = "bad-id"
    with pytest.raises(ValueError):
        order_request_from_json(wire)


@given(
    digits=st.integers(-(10**30), 10**30),
    exp=st.integers(-20, 5),
    fee=st.one_of(st.none(), st.decimals(allow_nan=False, allow_infinity=False, places=10)),
)
def test_update_round_trip_any_decimal(digits: int, exp: int, fee: Decimal | None) -> None:
    px = Decimal(digits).scaleb(exp)
    u = OrderUpdate(clOrdId="a1", instId="X", state=OrderState.LIVE, avgPx=px, fee=fee)
    back = order_update_from_json(json.loads(json.dumps(to_json(u))))
    assert back == u and str(back.avgPx) == str(px)
