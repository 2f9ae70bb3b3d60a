"""Private WebSocket order entry (`order`, `batch-orders`, `cancel-order`, `batch-cancel-orders`,
`amend-order`, `batch-amend-orders`) with raw frames: the frames NautilusTrader 1.231 sends (captured from
its OKX adapter against the sim: `instIdCode`, `ccy`, `posSide`, `tag`, numeric string ids; cancels and
amends name both ordId and clOrdId), and OKX's documented replies (OKX_FACTS §8,
samples/okx_docs_examples.json `ws_op_*`):
`{"id","op","code","msg","data":[per-item sCode/sMsg],"inTime","outTime"}`, code "1" when every item
failed and "2" when part of a batch did, 60013 with empty data for malformed args.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from athena.sim.server import SimServer
from tests.conformance.helpers import Ws
from tests.sim.helpers import BTC

BTC_CODE, ETH_CODE = 10459, 10461
REPLY_KEYS = {"id", "op", "code", "msg", "data", "inTime", "outTime"}


@pytest.fixture()
def priv(sim: SimServer) -> Iterator[Ws]:
    w = Ws(sim.ws_url("private"))
    assert w.login()["code"] == "0"
    w.send({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]})
    w.wait(lambda m: isinstance(m, dict) and m.get("event") == "subscribe")
    yield w
    w.close()


def _nautilus_order(
    cl: str, px: str = "50000.0", ord_type: str = "post_only", sz: str = "0.01", side: str = "buy"
) -> dict[str, Any]:
    """The `order` op arg NautilusTrader builds (ccy, posSide and tag always present, px only when priced)."""
    arg = {
        "instIdCode": BTC_CODE,
        "tdMode": "cross",
        "ccy": "USDT",
        "clOrdId": cl,
        "side": side,
        "posSide": "net",
        "ordType": ord_type,
        "sz": sz,
        "tag": "5328c82e5542BCDE",
    }
    if ord_type != "market":
        arg["px"] = px
    return arg


def _op(w: Ws, req_id: str, op: str, args: Any, **extra: Any) -> dict[str, Any]:
    w.send({"id": req_id, "op": op, "args": args, **extra})
    reply = w.wait(lambda m: isinstance(m, dict) and m.get("id") == req_id and "op" in m)
    assert set(reply) == REPLY_KEYS, reply
    assert reply["op"] == op and int(reply["outTime"]) >= int(reply["inTime"]) > 0
    return reply  # type: ignore[no-any-return]


def _order_pushes(w: Ws, cl: str, until: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while not out or out[-1]["state"] != until:
        m = w.wait(
            lambda m, cl=cl: (
                isinstance(m, dict)
                and m.get("arg", {}).get("channel") == "orders"
                and m["data"][0]["clOrdId"] == cl
            )
        )
        out.append(m["data"][0])
    return out


def _ms(offset_s: float) -> str:
    return str(int((time.time() + offset_s) * 1000))


def test_nautilus_frames_place_amend_cancel_batch_cancel(priv: Ws) -> None:
    r = _op(priv, "1", "order", [_nautilus_order("nt1")])
    item = r["data"][0]
    assert (r["code"], r["msg"], item["sCode"], item["clOrdId"], item["tag"]) == (
        "0",
        "",
        "0",
        "nt1",
        "5328c82e5542BCDE",
    )
    ord_id = item["ordId"]
    assert ord_id.isdigit() and item["ts"].isdigit()
    assert _order_pushes(priv, "nt1", "live")[-1]["ordId"] == ord_id
    r = _op(
        priv,
        "2",
        "amend-order",
        [{"instIdCode": BTC_CODE, "ordId": ord_id, "clOrdId": "nt1", "newPx": "49999.0"}],
    )
    assert (r["code"], r["data"][0]["sCode"], r["data"][0]["ordId"], r["data"][0]["reqId"]) == (
        "0",
        "0",
        ord_id,
        "",
    )
    amended = _order_pushes(priv, "nt1", "live")[-1]
    assert (Decimal(amended["px"]), amended["amendResult"]) == (Decimal("49999.0"), "0")
    r = _op(priv, "3", "cancel-order", [{"instIdCode": BTC_CODE, "ordId": ord_id, "clOrdId": "nt1"}])
    assert (r["code"], r["data"][0]) == (
        "0",
        {"clOrdId": "nt1", "ordId": ord_id, "ts": r["data"][0]["ts"], "sCode": "0", "sMsg": ""},
    )
    assert _order_pushes(priv, "nt1", "canceled")[-1]["cancelSource"] == "1"
    ids = [
        _op(priv, str(4 + i), "order", [_nautilus_order(f"nt{2 + i}", px=f"4900{i}.0")])["data"][0]["ordId"]
        for i in range(2)
    ]
    r = _op(
        priv,
        "6",
        "batch-cancel-orders",
        [{"clOrdId": f"nt{2 + i}", "instIdCode": BTC_CODE, "ordId": ids[i]} for i in range(2)],
    )
    assert (
        r["code"] == "0"
        and [d["ordId"] for d in r["data"]] == ids
        and all(d["sCode"] == "0" for d in r["data"])
    )
    # the same cancels again: every item fails, each with its own code
    r = _op(priv, "7", "batch-cancel-orders", [{"instIdCode": BTC_CODE, "ordId": i} for i in ids])
    assert (r["code"], r["msg"]) == ("1", "") and [d["sCode"] for d in r["data"]] == ["51400", "51400"]


def test_id_correlation_with_pipelined_ops(priv: Ws) -> None:
    """Ops sent back to back are answered each under its own id, each reply ahead of the pushes it caused."""
    for i in range(5):
        priv.send({"id": f"p{i}", "op": "order", "args": [_nautilus_order(f"pipe{i}", ord_type="market")]})
    replies: dict[str, dict[str, Any]] = {}
    filled: set[str] = set()
    while len(replies) < 5 or len(filled) < 5:
        m = priv.wait(
            lambda m: isinstance(m, dict) and ("op" in m or m.get("arg", {}).get("channel") == "orders")
        )
        if "op" in m:
            replies[m["id"]] = m
        else:
            d = m["data"][0]
            assert f"p{d['clOrdId'][4:]}" in replies, "a push overtook the reply of the op that caused it"
            if d["state"] == "filled":
                filled.add(d["clOrdId"])
    assert all(replies[f"p{i}"]["data"][0]["clOrdId"] == f"pipe{i}" for i in range(5))
    assert len({r["data"][0]["ordId"] for r in replies.values()}) == 5


def test_per_item_errors_and_batch_codes(priv: Ws) -> None:
    r = _op(priv, "e1", "order", [_nautilus_order("bad1", sz="0.001")])  # not a multiple of lotSz 0.01
    item = r["data"][0]
    assert (r["code"], r["msg"], item["sCode"], item["ordId"], item["clOrdId"]) == (
        "1",
        "",
        "51121",
        "",
        "bad1",
    )
    assert item["sMsg"] and item["ts"].isdigit()
    args = [
        _nautilus_order("ok1", px="48000.0"),
        _nautilus_order("ok1", px="48001.0"),  # duplicate clOrdId
        {**_nautilus_order("bad2"), "instIdCode": 999999},
        _nautilus_order("ok2", px="48002.0"),
    ]
    r = _op(priv, "e2", "batch-orders", args)
    assert (r["code"], r["msg"]) == ("2", "")
    assert [d["sCode"] for d in r["data"]] == ["0", "51016", "51001", "0"]  # one item per arg, in order
    assert [d["clOrdId"] for d in r["data"]] == ["ok1", "ok1", "bad2", "ok2"]
    ok1 = r["data"][0]["ordId"]
    r = _op(priv, "e3", "batch-orders", [_nautilus_order("bad3", sz="0"), _nautilus_order("bad4", px="1.23")])
    assert r["code"] == "1" and all(d["sCode"] != "0" and d["ordId"] == "" for d in r["data"])
    # amend: per-item codes, reqId echoed; a batch with one good item is a partial success
    r = _op(
        priv,
        "e4",
        "batch-amend-orders",
        [
            {"instIdCode": BTC_CODE, "ordId": ok1, "newPx": "48000.5", "reqId": "r1"},
            {"instIdCode": BTC_CODE, "ordId": "1", "newPx": "48000.5", "reqId": "r2"},
        ],
    )
    assert r["code"] == "2" and [(d["sCode"], d["reqId"]) for d in r["data"]] == [
        ("0", "r1"),
        ("51503", "r2"),
    ]
    # the order is BTC's: named with ETH's instIdCode it is not found
    r = _op(priv, "e5", "cancel-order", [{"instIdCode": ETH_CODE, "ordId": ok1}])
    assert (r["code"], r["data"][0]["sCode"]) == ("1", "51400")
    r = _op(priv, "e6", "cancel-order", [{"instIdCode": BTC_CODE, "ordId": ok1}])
    assert r["code"] == "0"
    r = _op(
        priv, "e7", "amend-order", [{"instIdCode": BTC_CODE, "ordId": ok1, "newPx": "47000.0", "reqId": "r3"}]
    )
    assert (r["code"], r["data"][0]["sCode"], r["data"][0]["reqId"]) == ("1", "51503", "r3")


def test_malformed_ops(sim: SimServer, priv: Ws) -> None:
    for req_id, op, args in [
        ("m1", "order", []),
        ("m2", "order", {"instId": BTC}),
        ("m3", "cancel-order", ["x"]),
        ("m4", "batch-orders", [_nautilus_order(f"b{i}") for i in range(21)]),
        ("m5", "order", [_nautilus_order("two1"), _nautilus_order("two2")]),
    ]:
        r = _op(priv, req_id, op, args)
        assert (r["code"], r["msg"], r["data"]) == ("60013", "Invalid args", []), (req_id, r)
    assert sim.call(lambda: sim.exchange.cl_latest.get("two1")) is None  # nothing of a refused op happened
    pub = Ws(sim.ws_url("public"))
    try:
        r = _op(pub, "u1", "order", [_nautilus_order("pub1")])
        assert (r["code"], r["data"]) == ("60028", [])  # "The current operation is not supported by this URL"
    finally:
        pub.close()
    anon = Ws(sim.ws_url("private"))
    try:
        assert _op(anon, "l1", "order", [_nautilus_order("anon1")])["code"] == "60011"
    finally:
        anon.close()


@pytest.mark.parametrize(
    ("op", "late"),
    [
        ("order", True),
        ("batch-orders", True),
        ("amend-order", True),
        ("batch-amend-orders", True),
        ("cancel-order", False),
        ("batch-cancel-orders", False),
    ],
)
def test_exp_time(sim: SimServer, priv: Ws, op: str, late: bool) -> None:
    """expTime (epoch ms, a string) bounds place and amend ops; cancels ignore it (OKX_FACTS §2, §8)."""
    placed = _op(priv, "x0", "order", [_nautilus_order("exp0")])["data"][0]["ordId"]
    args: dict[str, list[dict[str, Any]]] = {
        "order": [_nautilus_order("exp1")],
        "batch-orders": [_nautilus_order("exp1")],
        "amend-order": [{"instIdCode": BTC_CODE, "ordId": placed, "newPx": "49000.0"}],
        "batch-amend-orders": [{"instIdCode": BTC_CODE, "ordId": placed, "newPx": "49000.0"}],
        "cancel-order": [{"instIdCode": BTC_CODE, "ordId": placed}],
        "batch-cancel-orders": [{"instIdCode": BTC_CODE, "ordId": placed}],
    }
    r = _op(priv, "x1", op, args[op], expTime=_ms(-1))
    state = sim.call(
        lambda: (
            sim.exchange.orders[placed].state,
            sim.exchange.orders[placed].px,
            sim.exchange.cl_latest.get("exp1"),
        )
    )
    if late:  # not processed at all: the sim's 50102 (OKX documents only that it is dropped)
        assert (r["code"], r["data"]) == ("50102", [])
        assert state == ("live", Decimal("50000.0"), None)
        r = _op(priv, "x2", op, args[op], expTime=_ms(30))
        assert r["code"] == "0"
    else:
        assert r["code"] == "0" and state[0] == "canceled"
