"""Raw WebSocket conformance (websocket-client): every channel, login, errors, ping/pong, OKX's 30 s rule.

Frames are written exactly as OKX documents them (OKX_FACTS §8) and as python-okx / ccxt.pro send them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import websocket

from athena.sim.client import SimClient
from athena.sim.config import SimConfig
from athena.sim.server import SimServer
from tests.conformance.helpers import Ws
from tests.sim.helpers import BTC, channel

ETH = "ETH-USDT-SWAP"


@pytest.fixture()
def ws(sim: SimServer) -> Iterator[Callable[[str], Ws]]:
    opened: list[Ws] = []

    def make(kind: str) -> Ws:
        w = Ws(sim.ws_url(kind))
        opened.append(w)
        return w

    yield make
    for w in opened:
        w.close()


def _sub(w: Ws, *args: dict[str, Any], req_id: str | None = None) -> None:
    frame: dict[str, Any] = {"op": "subscribe", "args": list(args)}
    if req_id:
        frame["id"] = req_id
    w.send(frame)
    for a in args:
        ack = w.wait(lambda m, a=a: isinstance(m, dict) and m.get("event") == "subscribe" and m["arg"] == a)
        assert len(ack["connId"]) == 8 and ack.get("id") == req_id


def _order(client: SimClient, **kw: Any) -> dict[str, Any]:
    body = {"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "0.05", **kw}
    r = client.post("/api/v5/trade/order", body)
    assert r["code"] == "0", r
    return r["data"][0]  # type: ignore[no-any-return]


# -- public ------------------------------------------------------------------------------------
def test_public_tickers_books5_bbo_trades(sim: SimServer, ws: Callable[[str], Ws]) -> None:
    w = ws("public")
    _sub(w, *({"channel": c, "instId": BTC} for c in ("tickers", "books5", "bbo-tbt", "trades")), req_id="p1")
    first = w.wait(channel("tickers"))
    t = first["data"][0]
    assert first["arg"] == {"channel": "tickers", "instId": BTC}
    assert t["instType"] == "SWAP" and Decimal(t["askPx"]) > Decimal(t["bidPx"]) and t["ts"].isdigit()
    sim.call(sim.exchange.set_price, BTC, Decimal("98000"))  # book moves + a trade prints at 98000
    tr = w.wait(lambda m: channel("trades")(m) and Decimal(m["data"][0]["px"]) == 98000)
    d = tr["data"][0]
    assert (
        d["instId"] == BTC
        and d["side"] in ("buy", "sell")
        and Decimal(d["sz"]) > 0
        and d["tradeId"].isdigit()
    )
    tk = w.wait(lambda m: channel("tickers")(m) and Decimal(m["data"][0]["last"]) == 98000)["data"][0]
    assert Decimal(tk["bidPx"]) < Decimal("98000.1") < Decimal(tk["askPx"]) + 1
    b5 = w.wait(lambda m: channel("books5")(m) and Decimal(m["data"][0]["bids"][0][0]) < 98000)
    d5 = b5["data"][0]
    assert "action" not in b5 and d5["instId"] == BTC and isinstance(d5["seqId"], int) and d5["seqId"] > 0
    assert len(d5["asks"]) == len(d5["bids"]) == 5 and all(len(lv) == 4 for lv in d5["asks"] + d5["bids"])
    bbo = w.wait(lambda m: channel("bbo-tbt")(m) and Decimal(m["data"][0]["asks"][0][0]) < 99000)["data"][0]
    assert len(bbo["asks"]) == len(bbo["bids"]) == 1 and Decimal(bbo["asks"][0][0]) > Decimal(
        bbo["bids"][0][0]
    )
    assert bbo["seqId"] == d5["seqId"] and bbo["ts"].isdigit()  # both advance with the book
    w.send({"op": "unsubscribe", "args": [{"channel": "tickers", "instId": BTC}]})
    assert w.wait(lambda m: m.get("event") == "unsubscribe")["arg"] == {"channel": "tickers", "instId": BTC}


def test_public_books_seq_chain_and_keepalive() -> None:
    srv = SimServer(tick_interval_ms=0, books_keepalive_s=0.3).start()
    try:
        w = Ws(srv.ws_url("public"))
        _sub(w, {"channel": "books", "instId": ETH})
        snap = w.wait(channel("books"))
        d = snap["data"][0]
        assert snap["action"] == "snapshot" and d["prevSeqId"] == -1 and len(d["asks"]) > 5
        last = d["seqId"]
        for _ in range(5):
            srv.call(srv.market.step)
        target = srv.call(lambda: srv.exchange.markets[ETH].seq)
        updates = 0
        while last != target:
            m = w.wait(channel("books"))
            u = m["data"][0]
            assert m["action"] == "update" and u["prevSeqId"] == last and u["seqId"] > last
            assert all(len(lv) == 4 for lv in u["asks"] + u["bids"])
            last, updates = u["seqId"], updates + 1
        assert updates >= 1
        ka = w.wait(
            lambda m: channel("books")(m) and m["data"][0]["asks"] == [] and m["data"][0]["bids"] == [],
            timeout=5,
        )["data"][0]
        assert ka["seqId"] == ka["prevSeqId"] == last  # OKX's idle keep-alive: empty, seqId == prevSeqId
        w.close()
    finally:
        srv.stop()


# -- private -----------------------------------------------------------------------------------
def test_login_with_string_and_number_timestamp(ws: Callable[[str], Ws]) -> None:
    a = ws("private")
    r = a.login(ts=str(int(time.time())))  # ccxt.pro
    assert (r["event"], r["code"], r["msg"]) == ("login", "0", "") and len(r["connId"]) == 8
    b = ws("private")
    assert b.login(ts=int(time.time()))["code"] == "0"  # python-okx sends a JSON integer


def test_login_failures_and_private_before_login(ws: Callable[[str], Ws]) -> None:
    w = ws("private")
    w.send({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]})
    assert w.wait(lambda m: m.get("event") == "error")["code"] == "60011"
    bad = w.login(secret="wrong-secret")
    assert (bad["event"], bad["code"], bad["msg"]) == ("error", "60009", "Login failed.")
    assert w.login(ts=str(int(time.time()) - 60))["code"] == "60006"  # login expires 30 s after timestamp
    assert w.login(key="unknown-key")["code"] == "60005"
    assert w.login(passphrase="wrong")["code"] == "60024"
    w.send({"op": "subscribe", "args": [{"channel": "account"}]})
    assert w.wait(lambda m: m.get("event") == "error")["code"] == "60011"
    assert w.login()["code"] == "0"  # the same connection can still log in


def test_private_orders_positions_account(
    sim: SimServer, sim_client: SimClient, ws: Callable[[str], Ws]
) -> None:
    w = ws("private")
    w.login()
    _sub(
        w,
        {"channel": "orders", "instType": "ANY"},
        {"channel": "positions", "instType": "SWAP"},
        {"channel": "account"},
    )
    pos_snap = w.wait(lambda m: channel("positions")(m) and m.get("eventType") == "snapshot")
    assert pos_snap["data"] == [] and pos_snap["arg"]["uid"]
    acct_snap = w.wait(lambda m: channel("account")(m) and m.get("eventType") == "snapshot")["data"][0]
    assert Decimal(acct_snap["totalEq"]) > 0 and acct_snap["details"][0]["ccy"] == "USDT"
    assert not [m for m in w.seen if channel("orders")(m)]  # orders: no snapshot on subscribe
    item = _order(sim_client, clOrdId="wsMkt1")
    states = []
    while "filled" not in states:
        d = w.wait(lambda m: channel("orders")(m) and m["data"][0]["ordId"] == item["ordId"])["data"][0]
        states.append(d["state"])
    assert states == ["live", "filled"]
    assert (d["clOrdId"], d["fillSz"], d["accFillSz"], d["execType"]) == ("wsMkt1", "0.05", "0.05", "T")
    assert d["tradeId"] and Decimal(d["fillFee"]) < 0 and d["fillPx"] == d["avgPx"]
    ev = w.wait(lambda m: channel("positions")(m) and m.get("eventType") == "event_update")
    p = ev["data"][0]
    assert (p["instId"], p["posSide"], p["pos"]) == (BTC, "net", "0.05") and ev["arg"][
        "channel"
    ] == "positions"
    acct = w.wait(lambda m: channel("account")(m) and "eventType" not in m)["data"][0]
    assert Decimal(acct["details"][0]["cashBal"]) < Decimal(acct_snap["details"][0]["cashBal"])  # fee paid


def test_private_orders_algo(sim: SimServer, sim_client: SimClient, ws: Callable[[str], Ws]) -> None:
    w = ws("business")  # OKX carries orders-algo on /business; the sim also serves it on /private
    w.login()
    _sub(w, {"channel": "orders-algo", "instType": "SWAP"})
    _order(sim_client)
    r = sim_client.post(
        "/api/v5/trade/order-algo",
        {
            "instId": BTC,
            "tdMode": "cross",
            "side": "sell",
            "sz": "0.05",
            "ordType": "conditional",
            "slTriggerPx": "90000",
            "slOrdPx": "-1",
            "reduceOnly": True,
            "algoClOrdId": "wsSl1",
        },
    )
    algo_id = r["data"][0]["algoId"]
    live = w.wait(channel("orders-algo"))["data"][0]
    assert (live["algoId"], live["algoClOrdId"], live["state"], live["slTriggerPx"]) == (
        algo_id,
        "wsSl1",
        "live",
        "90000",
    )
    sim_client.admin("price", {"instId": BTC, "px": "89000"})
    eff = w.wait(lambda m: channel("orders-algo")(m) and m["data"][0]["state"] == "effective")["data"][0]
    assert eff["algoId"] == algo_id and eff["actualSide"] == "sl" and eff["ordId"]


# -- errors, ping, idle ------------------------------------------------------------------------
def test_subscribe_errors(ws: Callable[[str], Ws]) -> None:
    w = ws("public")
    cases: list[tuple[Any, str]] = [
        ({"id": "e1", "op": "subscribe", "args": [{"channel": "nope", "instId": BTC}]}, "60018"),
        (
            {"id": "e2", "op": "subscribe", "args": [{"channel": "tickers", "instId": "NOPE-USDT-SWAP"}]},
            "60018",
        ),
        (
            {"id": "e3", "op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]},
            "60018",
        ),  # wrong URL
        ({"id": "e4", "op": "subscribe", "args": []}, "60012"),
        ({"id": "e5", "op": "subscribe", "args": "tickers"}, "60012"),
        ({"id": "e6", "op": "dance", "args": []}, "60019"),
    ]
    for frame, code in cases:
        w.send(frame)
        err = w.wait(lambda m, i=frame["id"]: isinstance(m, dict) and m.get("id") == i)
        assert (err["event"], err["code"]) == ("error", code) and err["msg"] and err["connId"]
    w.send("{not json")
    assert w.wait(lambda m: isinstance(m, dict) and m.get("event") == "error")["code"] == "60012"


def test_text_ping_pong(ws: Callable[[str], Ws]) -> None:
    for kind in ("public", "private", "business"):
        w = ws(kind)
        w.send("ping")
        assert w.ws.recv() == "pong"  # a text frame, not JSON and not a control frame


def test_idle_connection_closed_with_4004() -> None:
    idle_s = 2.0
    srv = SimServer(tick_interval_ms=0, idle_timeout_s=idle_s).start()
    try:
        t0 = time.monotonic()
        quiet = websocket.create_connection(srv.ws_url("public"), timeout=60)
        pinger = websocket.create_connection(srv.ws_url("private"), timeout=60)
        quiet.settimeout(0.05)
        closed: tuple[int, bytes] | None = None
        pongs = 0
        while closed is None:  # each pong is traffic, so the pinger survives
            pinger.send("ping")
            assert pinger.recv() == "pong"
            pongs += 1
            try:
                closed = quiet.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                assert time.monotonic() - t0 < 60, "the quiet connection was never closed"
        op, data = closed
        assert op == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 4004
        assert data[2:] == b"No data received in 30s"
        assert time.monotonic() - t0 >= idle_s and pongs >= 2
        pinger.send("ping")
        assert pinger.recv() == "pong"
        pinger.close()
    finally:
        srv.stop()


def test_idle_timeout_defaults_to_okx_30s() -> None:
    assert SimConfig().idle_timeout_s == 30.0
    assert SimServer().config.idle_timeout_s == 30.0
