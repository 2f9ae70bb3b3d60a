"""OKX `expTime`: place / batch-place / amend requests processed after their deadline are not processed."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from athena.sim.client import SimClient
from athena.sim.server import SimServer
from tests.sim.helpers import BTC, Ws, order
from tests.waiting import wait_until


def _ms(offset_s: float) -> str:
    return str(int((time.time() + offset_s) * 1000))


def _order_state(sim_client: SimClient, cl: str) -> str | None:
    got = sim_client.get(f"/api/v5/trade/order?instId={BTC}&clOrdId={cl}")
    return got["data"][0]["state"] if got["code"] == "0" else None


def test_place_before_deadline_runs_after_deadline_is_dropped(sim: SimServer, sim_client: SimClient) -> None:
    r = sim_client.request(
        "POST", "/api/v5/trade/order", order(clOrdId="inTime"), extra_headers={"expTime": _ms(5)}
    )
    assert r.status_code == 200 and r.json()["data"][0]["sCode"] == "0"
    assert _order_state(sim_client, "inTime") == "filled"
    r = sim_client.request(
        "POST", "/api/v5/trade/order", order(clOrdId="late"), extra_headers={"expTime": _ms(-1)}
    )
    assert r.status_code == 401 and r.json() == {
        "code": "50102",
        "msg": "Timestamp request expired.",
        "data": [],
    }
    assert _order_state(sim_client, "late") is None  # not processed at all
    r = sim_client.request(
        "POST", "/api/v5/trade/batch-orders", [order(clOrdId="lateB")], extra_headers={"expTime": _ms(-1)}
    )
    assert r.json()["code"] == "50102" and _order_state(sim_client, "lateB") is None
    r = sim_client.request(
        "POST", "/api/v5/trade/order", order(clOrdId="badExp"), extra_headers={"expTime": "soon"}
    )
    assert r.status_code == 400 and r.json()["code"] == "51000" and _order_state(sim_client, "badExp") is None


def test_amend_honours_exptime_cancel_ignores_it(sim: SimServer, sim_client: SimClient) -> None:
    sim_client.post("/api/v5/trade/order", order("buy", "post_only", px="50000", clOrdId="rest1"))
    late = {"expTime": _ms(-1)}
    r = sim_client.request(
        "POST",
        "/api/v5/trade/amend-order",
        {"instId": BTC, "clOrdId": "rest1", "newPx": "50001"},
        extra_headers=late,
    )
    assert r.json()["code"] == "50102"
    got = sim_client.get(f"/api/v5/trade/order?instId={BTC}&clOrdId=rest1")["data"][0]
    assert got["px"] == "50000" and got["state"] == "live"
    r = sim_client.request(
        "POST", "/api/v5/trade/cancel-order", {"instId": BTC, "clOrdId": "rest1"}, extra_headers=late
    )
    assert r.json()["data"][0]["sCode"] == "0"  # OKX applies expTime to place and amend only
    assert _order_state(sim_client, "rest1") == "canceled"


def test_request_held_past_its_deadline_is_not_executed(sim: SimServer, sim_client: SimClient) -> None:
    """The point of expTime: a placement stuck in transit beyond its deadline never becomes an order."""
    sim_client.admin(
        "faults", {"rest_timeout": {"count": 2, "path": "/api/v5/trade/order"}, "rest_timeout_hold_s": 2}
    )
    with pytest.raises(requests.exceptions.Timeout):
        sim_client.request(
            "POST",
            "/api/v5/trade/order",
            order(clOrdId="held"),
            timeout=0.2,
            extra_headers={"expTime": _ms(0.3)},
        )
    with pytest.raises(requests.exceptions.Timeout):  # same hold, no deadline: executes later
        sim_client.request("POST", "/api/v5/trade/order", order(clOrdId="heldNoExp"), timeout=0.2)
    wait_until(lambda: _order_state(sim_client, "heldNoExp") is not None, 30, interval=0.05)
    assert _order_state(sim_client, "heldNoExp") == "filled"
    assert _order_state(sim_client, "held") is None  # its hold ended after the deadline, so it was dropped


def test_ws_order_op_exptime(sim: SimServer, ws_factory: Callable[[str], Ws]) -> None:
    w = ws_factory(sim.ws_url("private"))
    assert w.login()["code"] == "0"
    w.send({"id": "e1", "op": "order", "expTime": _ms(-1), "args": [order(clOrdId="wsLate")]})
    r = w.wait(lambda m: isinstance(m, dict) and m.get("id") == "e1")
    assert r["code"] == "50102" and r["data"] == []
    w.send({"id": "e2", "op": "order", "expTime": _ms(5), "args": [order(clOrdId="wsInTime")]})
    r = w.wait(lambda m: isinstance(m, dict) and m.get("id") == "e2")
    assert r["code"] == "0" and r["data"][0]["sCode"] == "0"
    assert sim.call(lambda: sim.exchange.pending_cl.get("wsLate")) is None
    assert sim.call(lambda: sim.exchange.cl_latest.get("wsLate")) is None
