"""Fault injection, one test per mode, plus the admin helpers."""

from __future__ import annotations

import select
import time
from collections.abc import Callable

import pytest
import requests
import websocket

from athena.sim.client import SimClient
from athena.sim.server import SimServer
from tests.sim.helpers import BTC, Ws, channel, order
from tests.waiting import wait_for, wait_until


def _orders_ws(sim: SimServer, ws_factory: Callable[[str], Ws]) -> Ws:
    w = ws_factory(sim.ws_url("private"))
    w.login()
    w.send({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]})
    w.wait(lambda m: m.get("event") == "channel-conn-count")
    return w


def test_drop_all_ws_connections(
    sim: SimServer, sim_client: SimClient, ws_factory: Callable[[str], Ws]
) -> None:
    w = ws_factory(sim.ws_url("public"))
    w.send("ping")
    w.wait(lambda m: m == "pong")
    assert sim_client.admin("ws/drop", {})["dropped"] == 1
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError, OSError)):
        for _ in range(5):
            w.ws.settimeout(2)
            if w.ws.recv() in ("", b""):
                raise websocket.WebSocketConnectionClosedException("closed")
    assert sim_client.admin("stats")["connections"] == 0


def test_stall_pushes(sim: SimServer, sim_client: SimClient, ws_factory: Callable[[str], Ws]) -> None:
    w = _orders_ws(sim, ws_factory)
    sim_client.admin("faults", {"stall_s": 60})  # lasts until it is lifted below
    sim_client.post("/api/v5/trade/order", order())
    w.send("ping")  # control frames still flow during a stall
    assert w.wait(lambda m: m == "pong", timeout=30) == "pong"
    assert not [m for m in w.seen if channel("orders")(m)]  # the order's push is held back ...
    sim_client.admin("faults", {"stall_s": 0})
    w.wait(channel("orders"), timeout=30)  # ... until the stall ends


def test_delay_pushes(sim: SimServer, sim_client: SimClient, ws_factory: Callable[[str], Ws]) -> None:
    w = _orders_ws(sim, ws_factory)
    sim_client.admin("faults", {"push_delay_s": 0.4})
    t0 = time.monotonic()
    sim_client.post("/api/v5/trade/order", order())
    w.wait(channel("orders"), timeout=30)
    assert time.monotonic() - t0 >= 0.35  # never sooner than the delay


def test_push_before_rest_ack(sim: SimServer, sim_client: SimClient) -> None:
    import json

    ws = websocket.create_connection(sim.ws_url("private"), timeout=5)
    from tests.sim.helpers import ws_login_frame

    ws.send(ws_login_frame())
    ws.recv()
    ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]}))
    ws.recv()
    ws.recv()
    # Pushes are delayed 0.3 s; with push_before_ack the REST reply waits for them, so once it is
    # read they are already in this socket's buffer (loopback): readable at once, no thread race.
    # Without the fault the reply would come first and nothing would be readable yet.
    sim_client.admin("faults", {"push_before_ack": True, "push_delay_s": 0.3})
    r = sim_client.post("/api/v5/trade/order", order(clOrdId="early"))
    ready, _, _ = select.select([ws.sock], [], [], 0)
    assert ready, "the order push had not arrived when the REST reply did"
    ws.settimeout(2)
    states = []
    while "filled" not in states:
        m = json.loads(ws.recv())
        if m.get("data"):
            states.append(m["data"][0]["state"])
    ws.close()
    assert r["data"][0]["sCode"] == "0"


def test_duplicate_pushes(sim: SimServer, sim_client: SimClient, ws_factory: Callable[[str], Ws]) -> None:
    w = _orders_ws(sim, ws_factory)
    sim_client.admin("faults", {"duplicate_pushes": 1.0})
    sim_client.post("/api/v5/trade/order", order(clOrdId="dup"))
    states = []
    end = time.monotonic() + 3
    while len(states) < 4 and time.monotonic() < end:
        states.append(w.wait(channel("orders"))["data"][0]["state"])
    assert states == ["live", "live", "filled", "filled"]


def test_reorder_pushes(sim: SimServer, sim_client: SimClient, ws_factory: Callable[[str], Ws]) -> None:
    w = _orders_ws(sim, ws_factory)
    sim_client.admin("faults", {"reorder_pushes": 1.0})
    sim_client.post("/api/v5/trade/order", order(clOrdId="ro"))
    states = [w.wait(channel("orders"))["data"][0]["state"] for _ in range(2)]
    assert states == ["filled", "live"]


def test_rest_5xx(sim: SimServer, sim_client: SimClient) -> None:
    sim_client.admin("faults", {"rest_5xx": {"count": 1, "path": "/api/v5/trade/"}})
    r = sim_client.request("POST", "/api/v5/trade/order", order(clOrdId="x5"))
    assert r.status_code == 503 and r.json()["code"] == "50001"
    assert sim_client.get(f"/api/v5/trade/order?instId={BTC}&clOrdId=x5")["code"] == "51603"  # not executed
    sim_client.admin("faults", {"rest_5xx": {"count": 1}, "rest_5xx_execute": True})
    r = sim_client.request("POST", "/api/v5/trade/order", order(clOrdId="x6"))
    assert r.status_code == 503
    assert sim_client.get(f"/api/v5/trade/order?instId={BTC}&clOrdId=x6")["data"][0]["state"] == "filled"


def test_rest_timeout_then_order_still_executes(sim: SimServer, sim_client: SimClient) -> None:
    sim_client.admin(
        "faults", {"rest_timeout": {"count": 1, "path": "/api/v5/trade/order"}, "rest_timeout_hold_s": 2}
    )
    sent_ms = int(time.time() * 1000)  # the sim's clock is this machine's (no skew set)
    with pytest.raises(requests.exceptions.Timeout):
        sim_client.request("POST", "/api/v5/trade/order", order(clOrdId="amb1"), timeout=0.3)
    got = wait_for(
        lambda: (r := sim_client.get(f"/api/v5/trade/order?instId={BTC}&clOrdId=amb1"))["code"] == "0" and r,
        what="the held order to execute",
    )
    assert got["data"][0]["state"] == "filled"
    assert int(got["data"][0]["cTime"]) - sent_ms >= 2000  # executed after the hold, not when it arrived


def test_rate_limit_injection(sim: SimServer, sim_client: SimClient) -> None:
    sim_client.admin("faults", {"rest_rate_limit": 2})
    codes = [sim_client.request("GET", "/api/v5/account/balance") for _ in range(3)]
    assert [r.status_code for r in codes] == [429, 429, 200]
    assert codes[0].json()["code"] == "50011"
    sim_client.admin("faults", {"rest_rate_limit": {"rate": 1.0, "path": "/api/v5/market/"}})
    assert sim_client.request("GET", f"/api/v5/market/ticker?instId={BTC}", signed=False).status_code == 429
    assert sim_client.request("GET", "/api/v5/account/balance").status_code == 200
    sim_client.admin("faults/clear", {})
    assert sim_client.request("GET", f"/api/v5/market/ticker?instId={BTC}", signed=False).status_code == 200


def test_reject_next_orders(sim: SimServer, sim_client: SimClient) -> None:
    sim_client.admin("faults", {"reject_orders": 1, "reject_code": "51008"})
    r = sim_client.post("/api/v5/trade/order", order())
    assert r["code"] == "1" and r["data"][0]["sCode"] == "51008"
    assert sim_client.post("/api/v5/trade/order", order())["data"][0]["sCode"] == "0"


def test_rest_scode_answers_an_item_code_before_or_after_executing(
    sim: SimServer, sim_client: SimClient
) -> None:
    sim_client.admin("faults", {"rest_scode": {"count": 1, "path": "/api/v5/trade/order"}})
    assert (
        sim_client.get(f"/api/v5/trade/order?instId={BTC}&clOrdId=none")["code"] == "51603"
    )  # reads never fire
    r = sim_client.request("POST", "/api/v5/trade/order", order(clOrdId="sc1"))
    assert r.status_code == 200 and r.json()["code"] == "1"
    assert [(i["clOrdId"], i["sCode"]) for i in r.json()["data"]] == [("sc1", "51149")]
    assert sim_client.get(f"/api/v5/trade/order?instId={BTC}&clOrdId=sc1")["code"] == "51603"  # not placed
    sim_client.admin(
        "faults",
        {
            "rest_scode": {"count": 1, "path": "/api/v5/trade/order-algo"},
            "rest_scode_execute": True,
            "rest_scode_code": "50026",
        },
    )
    algo = {
        "instId": BTC,
        "tdMode": "cross",
        "side": "sell",
        "ordType": "conditional",
        "sz": "1",
        "slTriggerPx": "1000",
        "slOrdPx": "-1",
        "reduceOnly": True,
        "algoClOrdId": "sc2",
    }
    item = sim_client.post("/api/v5/trade/order-algo", algo)["data"][0]
    assert (item["algoClOrdId"], item["sCode"]) == ("sc2", "50026")
    assert [
        a["algoClOrdId"]
        for a in sim_client.get("/api/v5/trade/orders-algo-pending?ordType=conditional")["data"]
    ] == ["sc2"]
    assert (
        sim_client.post("/api/v5/trade/order-algo", algo)["data"][0]["sCode"] == "51065"
    )  # the fault fired once


def test_admin_helpers(sim: SimServer, sim_client: SimClient) -> None:
    m = sim_client.admin("price", {"instId": BTC, "px": "65000", "mark": "65010"})
    assert m["last"] == "65000" and m["mark"] == "65010"
    assert sim_client.admin("price", {"instId": BTC, "mark": ""})["mark"] != "65010"  # unpinned
    assert sim_client.admin("step", {"n": 5})["steps"] == 5
    st = sim_client.admin("state")
    assert st["posMode"] == "net_mode" and st["balance"]["details"][0]["ccy"] == "USDT"
    assert sim_client.admin("faults")["reject_orders"] == 0
    sim_client.admin("skew", {"seconds": 120})
    assert sim_client.request("GET", "/api/v5/account/balance").json()["code"] == "50102"
    sim_client.admin("skew", {"seconds": 0})
    r = sim_client.session.post(f"{sim.url}/sim/faults", data=b'{"nonsense": 1}', timeout=5)
    assert r.status_code == 400


def test_faults_from_config_apply_at_start() -> None:
    srv = SimServer(
        tick_interval_ms=0,
        faults={
            "reject_orders": 1,
            "reject_code": "51094",
            "rest_5xx": {"count": 1, "path": "/api/v5/account/"},
        },
    ).start()
    try:
        c = SimClient(srv.url)
        assert c.admin("faults")["reject_orders"] == 1
        assert c.request("GET", "/api/v5/account/balance").status_code == 503
        assert c.request("GET", "/api/v5/account/balance").status_code == 200
        r = c.post("/api/v5/trade/batch-orders", [order(), order()])
        assert r["code"] == "2" and [d["sCode"] for d in r["data"]] == ["51094", "0"]
    finally:
        srv.stop()


def test_reject_orders_applies_to_ws_order_ops(
    sim: SimServer, sim_client: SimClient, ws_factory: Callable[[str], Ws]
) -> None:
    w = ws_factory(sim.ws_url("private"))
    w.login()
    sim_client.admin("faults", {"reject_orders": 1, "reject_code": "51008"})
    w.send({"id": "r1", "op": "order", "args": [order(clOrdId="wsRej")]})
    r = w.wait(lambda m: m.get("id") == "r1")
    assert r["code"] == "1" and r["data"][0]["sCode"] == "51008" and r["data"][0]["clOrdId"] == "wsRej"
    w.send({"id": "r2", "op": "order", "args": [order(clOrdId="wsOk")]})
    assert w.wait(lambda m: m.get("id") == "r2")["data"][0]["sCode"] == "0"


def test_admin_market_switch_and_rate_limit_toggle(sim: SimServer, sim_client: SimClient) -> None:
    assert sim_client.admin("market", {"running": True, "tick_interval_ms": 20}) == {
        "running": True,
        "tick_interval_ms": 20,
    }
    start = sim_client.admin("state")["markets"][BTC]["seqId"]
    wait_until(lambda: sim_client.admin("state")["markets"][BTC]["seqId"] != start, 30, interval=0.02)
    assert sim_client.admin("state")["markets"][BTC]["seqId"] != start  # the synthetic feed steps on its own
    assert sim_client.admin("market", {"running": False})["running"] is False
    codes = [sim_client.request("GET", "/api/v5/account/config").status_code for _ in range(6)]
    assert codes[-1] == 429  # OKX: 5 per 2 s
    assert sim_client.admin("rate-limits", {"enabled": False}) == {"enabled": False}
    assert sim_client.request("GET", "/api/v5/account/config").status_code == 200
    assert sim_client.admin("stats")["requests"] == 7
