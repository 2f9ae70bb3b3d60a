"""Private/business WS: login (string/number ts, failures), orders/positions/account/orders-algo, WS ops."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from athena.sim.client import SimClient
from athena.sim.server import SimServer
from tests.sim.helpers import BTC, Ws, channel, order


def test_login_string_and_number_timestamp(sim: SimServer, ws_factory: Callable[[str], Ws]) -> None:
    w = ws_factory(sim.ws_url("private"))
    assert w.login()["code"] == "0"
    w2 = ws_factory(sim.ws_url("private"))
    m = w2.login(ts=int(time.time()))
    assert m == {"event": "login", "code": "0", "msg": "", "connId": m["connId"]}


def test_login_failures(sim: SimServer, ws_factory: Callable[[str], Ws]) -> None:
    w = ws_factory(sim.ws_url("private"))
    assert w.login(secret="wrong") == {
        "event": "error",
        "code": "60009",
        "msg": "Login failed.",
        "connId": w.seen[-1]["connId"],
    }
    assert w.login(key="nobody")["code"] == "60005"
    assert w.login(passphrase="nope")["code"] == "60024"
    assert w.login(ts=str(int(time.time()) - 120))["code"] == "60006"
    w.send({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]})
    assert w.wait(lambda m: m.get("event") == "error")["code"] == "60011"


def test_orders_push_on_place_fill_cancel(
    sim: SimServer, sim_client: SimClient, ws_factory: Callable[[str], Ws]
) -> None:
    w = ws_factory(sim.ws_url("private"))
    w.login()
    w.send({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]})
    w.wait(lambda m: m.get("event") == "subscribe")
    r = sim_client.post("/api/v5/trade/order", order("buy", "post_only", px="50000", clOrdId="ws1"))
    oid = r["data"][0]["ordId"]
    live = w.wait(channel("orders"))
    assert live["arg"] == {"channel": "orders", "instType": "SWAP", "uid": "1"}
    d = live["data"][0]
    assert (d["ordId"], d["clOrdId"], d["state"], d["accFillSz"], d["fillSz"], d["tradeId"]) == (
        oid,
        "ws1",
        "live",
        "0",
        "0",
        "",
    )
    sim_client.post("/api/v5/trade/cancel-order", {"instId": BTC, "clOrdId": "ws1"})
    c = w.wait(lambda m: channel("orders")(m) and m["data"][0]["state"] == "canceled")["data"][0]
    assert c["cancelSource"] == "1"
    sim_client.post("/api/v5/trade/order", order(sz="0.02", clOrdId="ws2"))
    f = w.wait(lambda m: channel("orders")(m) and m["data"][0]["state"] == "filled")["data"][0]
    assert (
        f["clOrdId"] == "ws2" and f["fillSz"] == "0.02" and f["execType"] == "T" and Decimal(f["fillFee"]) < 0
    )
    assert f["tradeId"] and f["fillPx"] and f["avgPx"] == f["fillPx"]


def test_positions_and_account_snapshot_then_events(
    sim: SimServer, sim_client: SimClient, ws_factory: Callable[[str], Ws]
) -> None:
    sim_client.post("/api/v5/trade/order", order(sz="0.1"))
    w = ws_factory(sim.ws_url("private"))
    w.login()
    w.send({"op": "subscribe", "args": [{"channel": "positions", "instType": "ANY"}, {"channel": "account"}]})
    snap = w.wait(lambda m: channel("positions")(m) and m.get("eventType") == "snapshot")
    assert [(p["instId"], p["pos"]) for p in snap["data"]] == [(BTC, "0.1")]
    acct = w.wait(channel("account"))
    assert acct["data"][0]["details"][0]["ccy"] == "USDT"
    sim_client.post("/api/v5/trade/order", order(sz="0.1"))
    ev = w.wait(lambda m: channel("positions")(m) and m.get("eventType") == "event_update")
    assert ev["data"][0]["pos"] == "0.2"
    assert w.wait(lambda m: channel("account")(m) and "eventType" not in m)["data"][0]["totalEq"]


def test_orders_algo_on_business_and_private(
    sim: SimServer, sim_client: SimClient, ws_factory: Callable[[str], Ws]
) -> None:
    b = ws_factory(sim.ws_url("business"))
    b.send({"op": "subscribe", "args": [{"channel": "orders-algo", "instType": "SWAP"}]})
    assert b.wait(lambda m: m.get("event") == "error")["code"] == "60011"
    b.login()
    b.send({"op": "subscribe", "args": [{"channel": "orders-algo", "instType": "SWAP"}]})
    b.wait(lambda m: m.get("event") == "subscribe")
    p = ws_factory(sim.ws_url("private"))
    p.login()
    p.send({"op": "subscribe", "args": [{"channel": "orders-algo", "instType": "SWAP", "instId": BTC}]})
    p.wait(lambda m: m.get("event") == "subscribe")
    sim_client.post("/api/v5/trade/order", order(sz="0.05"))
    r = sim_client.post(
        "/api/v5/trade/order-algo",
        {
            "instId": BTC,
            "tdMode": "cross",
            "side": "sell",
            "ordType": "conditional",
            "sz": "0.05",
            "slTriggerPx": "95000",
            "slOrdPx": "-1",
            "algoClOrdId": "sl1",
        },
    )
    algo_id = r["data"][0]["algoId"]
    for w in (b, p):
        m = w.wait(channel("orders-algo"))
        assert m["data"][0]["algoId"] == algo_id and m["data"][0]["state"] == "live"
    sim_client.admin("price", {"instId": BTC, "px": "94000"})
    eff = b.wait(lambda m: channel("orders-algo")(m) and m["data"][0]["state"] == "effective")["data"][0]
    assert eff["actualSide"] == "sl" and eff["ordId"]
    # business URL does not carry orders
    b.send({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]})
    assert b.wait(lambda m: m.get("event") == "error")["code"] == "60018"


def test_ws_trade_ops(sim: SimServer, ws_factory: Callable[[str], Ws]) -> None:
    w = ws_factory(sim.ws_url("private"))
    w.send({"id": "1", "op": "order", "args": [order()]})
    assert w.wait(lambda m: m.get("op") == "order")["code"] == "60011"
    w.login()
    # ccxt.pro style: batch-orders with instIdCode
    args = [
        {
            "side": "buy",
            "ordType": "post_only",
            "sz": "0.01",
            "tdMode": "cross",
            "px": "50000",
            "clOrdId": "wsop1",
            "instIdCode": 10459,
        }
    ]
    w.send({"id": "2", "op": "batch-orders", "args": args})
    r = w.wait(lambda m: m.get("id") == "2")
    assert r["code"] == "0" and r["data"][0]["sCode"] == "0" and r["op"] == "batch-orders"
    w.send({"id": "3", "op": "amend-order", "args": [{"instId": BTC, "clOrdId": "wsop1", "newPx": "50001"}]})
    assert w.wait(lambda m: m.get("id") == "3")["data"][0]["sCode"] == "0"
    w.send({"id": "4", "op": "cancel-order", "args": [{"instId": BTC, "clOrdId": "wsop1"}]})
    assert w.wait(lambda m: m.get("id") == "4")["code"] == "0"
    w.send({"id": "5", "op": "order", "args": [order(sz="0.001")]})
    r = w.wait(lambda m: m.get("id") == "5")
    assert r["code"] == "1" and r["data"][0]["sCode"] == "51121"


def test_on_ws_message_sees_every_frame_before_it_is_handled(
    sim: SimServer, ws_factory: Callable[[str], Ws]
) -> None:
    """The bench hook beside on_request: (ws kind, frame text, monotonic ns at the read), called before the op
    runs, so a WS order and a REST order are stamped at the same point."""
    seen: list[tuple[str, str, int, int]] = []
    sim.on_ws_message = lambda kind, text, t: seen.append((kind, text, t, len(sim.exchange.orders)))
    w = ws_factory(sim.ws_url("private"))
    w.login()
    t0 = time.monotonic_ns()
    w.send({"id": "o1", "op": "order", "args": [order("buy", "post_only", px="40000", clOrdId="hook1")]})
    assert w.wait(lambda m: m.get("op") == "order")["code"] == "0"
    kinds = [(k, '"op": "order"' in text or '"op":"order"' in text) for k, text, _, _ in seen]
    assert kinds == [("private", False), ("private", True)]  # the login, then the order op
    _, text, t, orders_before = seen[1]
    assert "hook1" in text and t >= t0 and orders_before == 0  # stamped before the order existed
