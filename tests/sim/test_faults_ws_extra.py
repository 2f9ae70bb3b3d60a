"""The sim faults and stats the OKX gateway tests rely on: books_gap, stall_all, per-connection stats."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests
import websocket

from athena.procs import wait_until
from athena.sim.client import SimClient
from athena.sim.server import SimServer
from tests.sim.helpers import BTC, Ws, channel


def test_books_gap_loses_one_update(
    sim: SimServer, sim_client: SimClient, ws_factory: Callable[[str], Ws]
) -> None:
    w = ws_factory(sim.ws_url("public"))
    w.send({"op": "subscribe", "args": [{"channel": "books", "instId": BTC}]})
    last = w.wait(channel("books"))["data"][0]["seqId"]
    sim_client.admin("faults", {"books_gap": 1})
    chain_ok: list[bool] = []
    for _ in range(30):
        sim.call(sim.market.step)
    target = sim.call(lambda: sim.exchange.markets[BTC].seq)
    end = time.monotonic() + 30
    while last != target and time.monotonic() < end:
        d = w.wait(channel("books"))["data"][0]
        chain_ok.append(d["prevSeqId"] == last)
        last = d["seqId"]
    assert last == target and chain_ok.count(False) == 1  # exactly one break in the chain
    assert sim_client.admin("faults")["books_gap"] == 0


def test_stall_all_holds_pongs_too(
    sim: SimServer, sim_client: SimClient, ws_factory: Callable[[str], Ws]
) -> None:
    w = ws_factory(sim.ws_url("public"))
    sim_client.admin("faults", {"stall_s": 60, "stall_all": True})  # lasts until it is lifted below
    w.send("ping")
    with pytest.raises(AssertionError):  # black hole: no pong during the stall
        w.wait(lambda m: m == "pong", timeout=0.3)
    assert sim_client.admin("faults")["stall_s_left"] > 0
    sim_client.admin("faults", {"stall_s": 0})  # the stall ends: the held pong goes out
    assert w.wait(lambda m: m == "pong", timeout=30) == "pong"


def test_stats_count_subscribe_requests_and_logins(
    sim: SimServer, sim_client: SimClient, ws_factory: Callable[[str], Ws]
) -> None:
    pub = ws_factory(sim.ws_url("public"))
    arg = {"channel": "tickers", "instId": BTC}
    for _ in range(2):  # a duplicate subscribe is acked, subscribed once, but counted as a request
        pub.send({"op": "subscribe", "args": [arg]})
        pub.wait(lambda m: m.get("event") == "subscribe")
    priv = ws_factory(sim.ws_url("private"))
    assert priv.login()["event"] == "login"
    conns = {c["kind"]: c for c in sim_client.admin("stats")["conns"]}
    assert conns["public"]["sub_requests"] == {"channel=tickers|instId=BTC-USDT-SWAP": 2}
    assert (
        conns["public"]["subs"] == ["channel=tickers|instId=BTC-USDT-SWAP"] and conns["public"]["logins"] == 0
    )
    assert conns["private"]["logins"] == 1 and conns["private"]["sub_requests"] == {}
    pub.close()
    with pytest.raises((websocket.WebSocketException, OSError)):
        pub.ws.recv()
    assert wait_until(lambda: len(sim_client.admin("stats")["conns"]) == 1, 30)
    assert [c["kind"] for c in sim_client.admin("stats")["conns"]] == ["private"]


def test_rest_5xx_code(sim: SimServer, sim_client: SimClient) -> None:
    sim_client.admin(
        "faults", {"rest_5xx": {"count": 1, "path": "/api/v5/account/balance"}, "rest_5xx_code": "50013"}
    )
    resp = requests.get(
        sim.url + "/api/v5/account/balance",
        headers=sim_client.headers("GET", "/api/v5/account/balance", ""),
        timeout=5,
    )
    assert resp.status_code == 503 and resp.json()["code"] == "50013"
    assert sim_client.get("/api/v5/account/balance")["code"] == "0"
