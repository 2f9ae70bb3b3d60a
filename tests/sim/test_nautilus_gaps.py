"""Where NautilusTrader's OKX adapter found the sim was not OKX: the public `instruments` channel, the
business `algo-advance` channel, GET /account/trade-fee, and `books` keep-alives on a busy book."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from athena.sim.client import SimClient
from athena.sim.server import SimServer
from tests.sim.helpers import BTC, Ws, channel, order


def _acked(w: Ws, arg: dict[str, Any]) -> dict[str, Any]:
    return w.wait(
        lambda m: (
            isinstance(m, dict)
            and m.get("event") in ("subscribe", "error")  # type: ignore[no-any-return]
            and (m.get("arg") == arg or m.get("event") == "error")
        )
    )


def test_instruments_channel_pushes_the_rest_rows(
    sim: SimServer, sim_client: SimClient, ws_factory: Callable[[str], Ws]
) -> None:
    w = ws_factory(sim.ws_url("public"))
    arg = {"channel": "instruments", "instType": "SWAP"}
    w.send({"id": "i1", "op": "subscribe", "args": [arg]})
    ack = _acked(w, arg)
    assert (ack["event"], ack["id"]) == ("subscribe", "i1")
    push = w.wait(channel("instruments"))
    assert push["arg"] == arg  # OKX: the full list once on subscribe, then only on a change
    rest = sim_client.get("/api/v5/public/instruments?instType=SWAP", signed=False)["data"]
    assert push["data"] == rest and {r["instId"] for r in rest} >= {BTC, "ETH-USDT-SWAP"}
    spot = {"channel": "instruments", "instType": "SPOT"}  # listed empty over REST: acked, nothing pushed
    w.send({"op": "subscribe", "args": [spot]})
    assert _acked(w, spot)["event"] == "subscribe"
    w.send({"op": "subscribe", "args": [{"channel": "instruments", "instType": "BOND"}]})
    assert _acked(w, {})["code"] == "60018"
    w.send({"op": "unsubscribe", "args": [arg]})
    assert w.wait(lambda m: m.get("event") == "unsubscribe")["arg"] == arg
    p = ws_factory(sim.ws_url("private"))  # a public channel, not on /private
    p.login()
    p.send({"op": "subscribe", "args": [arg]})
    assert _acked(p, {})["code"] == "60018"


def test_algo_advance_is_a_business_channel(sim: SimServer, ws_factory: Callable[[str], Ws]) -> None:
    arg = {"channel": "algo-advance", "instType": "SWAP"}
    b = ws_factory(sim.ws_url("business"))
    b.send({"op": "subscribe", "args": [arg]})
    assert _acked(b, {})["code"] == "60011"  # private data: log in first
    assert b.login()["code"] == "0"
    b.send({"id": "a1", "op": "subscribe", "args": [arg]})
    ack = _acked(b, arg)
    assert (ack["event"], ack["id"], len(ack["connId"])) == ("subscribe", "a1", 8)
    pub = ws_factory(sim.ws_url("public"))
    pub.send({"op": "subscribe", "args": [arg]})
    assert _acked(pub, {})["code"] == "60018"


def test_trade_fee_matches_the_fees_charged(sim: SimServer, sim_client: SimClient) -> None:
    r = sim_client.request("GET", "/api/v5/account/trade-fee?instType=SWAP&instFamily=BTC-USDT")
    assert r.status_code == 200 and r.json()["code"] == "0"
    row = r.json()["data"][0]
    assert (row["instType"], row["level"], row["makerU"], row["takerU"]) == (
        "SWAP",
        "Lv1",
        "-0.0002",
        "-0.0005",
    )
    assert row["feeGroup"] == [{"groupId": "1", "maker": "-0.0002", "taker": "-0.0005"}]
    assert row["ts"].isdigit() and row["delivery"] == row["exercise"] == ""
    placed = sim_client.post("/api/v5/trade/order", order(sz="0.1"))["data"][0]
    fill = sim_client.get(f"/api/v5/trade/fills?instId={BTC}&ordId={placed['ordId']}")["data"][0]
    notional = Decimal(fill["fillPx"]) * Decimal(fill["fillSz"]) * Decimal("0.01")  # ctVal 0.01 BTC
    assert Decimal(fill["fee"]) == notional * Decimal(row["takerU"])  # the rate served is the rate charged
    missing = sim_client.request("GET", "/api/v5/account/trade-fee")
    assert missing.status_code == 400 and missing.json()["code"] == "50014"
    unsigned = sim_client.request("GET", "/api/v5/account/trade-fee?instType=SWAP", signed=False)
    assert unsigned.status_code == 401


class _Clock:
    """The engine clock, moved by the test (epoch ms)."""

    def __init__(self) -> None:
        self.ms = 1_800_000_000_000

    def __call__(self) -> int:
        return self.ms


@pytest.fixture()
def clocked() -> Iterator[tuple[SimServer, _Clock]]:
    clock = _Clock()
    srv = SimServer(tick_interval_ms=0, books_keepalive_s=0.3, clock=clock).start()
    yield srv, clock
    srv.stop()


def test_books_keepalive_only_for_a_quiet_book(
    clocked: tuple[SimServer, _Clock], ws_factory: Callable[[str], Ws]
) -> None:
    """OKX sends the empty `books` update only when the book did not change for the interval."""
    srv, clock = clocked
    w = ws_factory(srv.ws_url("public"))
    w.send({"op": "subscribe", "args": [{"channel": "books", "instId": BTC}]})
    last = w.wait(channel("books"))["data"][0]["seqId"]
    # A busy book: it changes every 100 ms of engine time. The steps also span several keep-alive intervals
    # of wall time, so a keep-alive driven by uptime instead of by the book would show up here.
    steps, start = 0, time.monotonic()
    while steps < 20 or time.monotonic() - start < 1.2:
        steps += 1
        time.sleep(0.05)
        clock.ms += 100
        srv.call(srv.market.step)
        target = srv.call(lambda: srv.exchange.markets[BTC].seq)
        while last != target:
            u = w.wait(channel("books"))["data"][0]
            assert u["asks"] or u["bids"], f"keep-alive sent although the book changed: {u}"
            assert u["prevSeqId"] == last
            last = u["seqId"]
    clock.ms += 300  # now quiet for the interval
    ka = w.wait(channel("books"))["data"][0]
    assert ka["asks"] == ka["bids"] == [] and ka["seqId"] == ka["prevSeqId"] == last
