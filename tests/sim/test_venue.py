"""The venue knobs a pre-flight reads and a test misconfigures: account config, leverage refusal,
instrument state and specs, system status (maintenance), clock skew, the price-limit band and its
enforcement (51006), funding settlements as bills of type 8, the bills endpoint and the WS notice."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from athena.sim.client import SimClient
from athena.sim.exchange import Exchange
from athena.sim.server import SimServer
from tests.sim.helpers import BTC, Ws, order
from tests.waiting import wait_for


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000_000

    def __call__(self) -> int:
        return self.t


def test_account_config_follows_the_admin_settings(sim: SimServer, sim_client: SimClient) -> None:
    cfg = sim_client.get("/api/v5/account/config")["data"][0]
    assert (cfg["acctLv"], cfg["perm"], cfg["ip"], cfg["posMode"]) == (
        "2",
        "read_only,trade",
        "127.0.0.1",
        "net_mode",
    )
    sim_client.admin("account", {"acctLv": "1", "perm": "read_only,withdraw,trade", "ip": ""})
    cfg = sim_client.get("/api/v5/account/config")["data"][0]
    assert (cfg["acctLv"], cfg["perm"], cfg["ip"]) == ("1", "read_only,withdraw,trade", "")
    # a spot-mode account cannot trade swaps: OKX's 51010
    item = sim_client.post("/api/v5/trade/order", order(clOrdId="spot1"))["data"][0]
    assert item["sCode"] == "51010"
    with pytest.raises(RuntimeError):
        sim_client.admin("account", {"acctLv": "7"})


def test_position_mode_can_be_forced_with_positions_open(sim: SimServer, sim_client: SimClient) -> None:
    assert sim_client.post("/api/v5/trade/order", order(clOrdId="o1"))["data"][0]["sCode"] == "0"
    r = sim_client.post("/api/v5/account/set-position-mode", {"posMode": "long_short_mode"})
    assert r["code"] == "59000"  # what OKX answers with a position open
    assert sim_client.admin("account", {"posMode": "long_short_mode"})["posMode"] == "long_short_mode"
    assert sim_client.get("/api/v5/account/config")["data"][0]["posMode"] == "long_short_mode"


def test_a_locked_leverage_refuses_the_change(sim: SimServer, sim_client: SimClient) -> None:
    sim_client.admin(
        "account",
        {"leverage": [{"instId": BTC, "lever": "20", "mgnMode": "cross"}], "leverage_error": "59108"},
    )
    r = sim_client.post("/api/v5/account/set-leverage", {"instId": BTC, "lever": "3", "mgnMode": "cross"})
    assert r["code"] == "59108" and "leverage" in r["msg"]
    info = sim_client.get(f"/api/v5/account/leverage-info?instId={BTC}&mgnMode=cross")["data"][0]
    assert info["lever"] == "20"
    sim_client.admin("account", {"leverage_error": ""})
    assert (
        sim_client.post("/api/v5/account/set-leverage", {"instId": BTC, "lever": "3", "mgnMode": "cross"})[
            "code"
        ]
        == "0"
    )


def test_instrument_state_and_specs_can_change(sim: SimServer, sim_client: SimClient) -> None:
    sim_client.admin("instrument", {"instId": BTC, "state": "suspend", "lotSz": "0.1"})
    row = sim_client.get(f"/api/v5/public/instruments?instType=SWAP&instId={BTC}", signed=False)["data"][0]
    assert (row["state"], row["lotSz"], row["minSz"]) == ("suspend", "0.1", "0.1")
    assert sim.exchange.insts[BTC].inst.lotSz == D("0.1")
    with pytest.raises(RuntimeError):
        sim_client.admin("instrument", {"instId": BTC, "state": "asleep"})


def test_public_time_follows_the_skew(sim: SimServer, sim_client: SimClient) -> None:
    before = int(sim_client.get("/api/v5/public/time", signed=False)["data"][0]["ts"])
    sim_client.admin("skew", {"seconds": 7})
    skewed = int(sim_client.get("/api/v5/public/time", signed=False)["data"][0]["ts"])
    assert 6_000 <= skewed - before <= 60_000


def test_system_status_follows_the_clock() -> None:
    clock = Clock()
    ex = Exchange(seed=1, clock=clock)
    assert ex.system_status({}) == []
    ex.set_maintenance({"begin_in_s": 600, "duration_s": 60, "serviceType": "5"})
    row = ex.system_status({})[0]
    assert (row["state"], row["serviceType"], int(row["begin"]) - clock.t) == ("scheduled", "5", 600_000)
    clock.t += 600_000
    assert ex.system_status({})[0]["state"] == "ongoing"
    clock.t += 60_000
    assert ex.system_status({}) == []  # completed: not listed by default
    assert ex.system_status({"state": "completed"})[0]["state"] == "completed"


def test_system_status_over_rest(sim: SimServer, sim_client: SimClient) -> None:
    sim_client.admin("system-status", {"begin_in_s": 1800, "duration_s": 600, "serviceType": "0", "env": "2"})
    rows = sim_client.get("/api/v5/system/status", signed=False)["data"]
    assert [(r["state"], r["serviceType"], r["env"]) for r in rows] == [("scheduled", "0", "2")]
    again = sim_client.get("/api/v5/system/status", signed=False)
    assert again["code"] == "50011"  # OKX allows one request per 5 s
    sim_client.admin("rate-limits", {"enabled": False})
    sim_client.admin("system-status", {"clear": True})
    empty = sim_client.get("/api/v5/system/status", signed=False)
    assert (empty["code"], empty["data"]) == ("0", [])


def test_no_band_by_default_then_a_band_around_the_mark(sim: SimServer, sim_client: SimClient) -> None:
    row = sim_client.get(f"/api/v5/public/price-limit?instId={BTC}", signed=False)["data"][0]
    assert (row["buyLmt"], row["sellLmt"], row["enabled"]) == ("", "", False)
    sim_client.admin("price", {"instId": BTC, "px": "100000"})
    sim_client.admin("price-limit", {"pct": "0.02"})
    row = sim_client.get(f"/api/v5/public/price-limit?instId={BTC}", signed=False)["data"][0]
    assert (row["buyLmt"], row["sellLmt"], row["enabled"]) == ("102000", "98000", True)
    sim_client.admin("price-limit", {"instId": BTC, "buyLmt": "100500", "sellLmt": "99500"})
    row = sim_client.get(f"/api/v5/public/price-limit?instId={BTC}", signed=False)["data"][0]
    assert (row["buyLmt"], row["sellLmt"]) == ("100500", "99500")


def _place(sim_client: SimClient, **kw: Any) -> dict[str, Any]:
    return sim_client.post("/api/v5/trade/order", order(**kw))["data"][0]  # type: ignore[no-any-return]


def test_orders_outside_the_band_are_refused_with_51006(sim: SimServer, sim_client: SimClient) -> None:
    sim_client.admin("price", {"instId": BTC, "px": "100000"})
    sim_client.admin("price-limit", {"instId": BTC, "buyLmt": "101000", "sellLmt": "99000"})
    assert _place(sim_client, side="buy", ord_type="limit", px="101000.1", clOrdId="b1")["sCode"] == "51006"
    assert _place(sim_client, side="sell", ord_type="limit", px="98999.9", clOrdId="s1")["sCode"] == "51006"
    assert (
        _place(sim_client, side="buy", ord_type="limit", px="99500", clOrdId="b2")["sCode"] == "0"
    )  # inside: rests
    r = sim_client.post("/api/v5/trade/amend-order", {"instId": BTC, "clOrdId": "b2", "newPx": "101500"})
    assert r["data"][0]["sCode"] == "51006"
    # a stop whose trigger lies outside the band
    algo = {
        "instId": BTC,
        "tdMode": "cross",
        "side": "sell",
        "ordType": "conditional",
        "sz": "0.01",
        "slTriggerPx": "98000",
        "slOrdPx": "-1",
        "reduceOnly": True,
    }
    assert sim_client.post("/api/v5/trade/order-algo", algo)["data"][0]["sCode"] == "51006"
    assert (
        sim_client.post("/api/v5/trade/order-algo", {**algo, "slTriggerPx": "99100"})["data"][0]["sCode"]
        == "0"
    )


def test_a_market_order_stops_at_the_band_edge() -> None:
    ex = Exchange(seed=1, clock=Clock())
    ask = ex.markets[BTC].best_ask
    assert ask is not None
    ex.set_band({"instId": BTC, "buyLmt": str(ask), "sellLmt": "1"})
    top = ex.markets[BTC].asks[0][1]
    ex.place_order(order(sz=str(top * 3), clOrdId="mkt"))
    got = ex.get_order({"instId": BTC, "clOrdId": "mkt"})
    assert got is not None
    assert (got["state"], D(got["accFillSz"]), D(got["avgPx"])) == (
        "canceled",
        top,
        ask,
    )  # the rest is cancelled


def test_funding_settlement_books_a_bill_per_position() -> None:
    ex = Exchange(seed=1, clock=Clock())
    ex.place_order(order(sz="1", clOrdId="long1"))
    cash0 = ex.cash
    ex.set_funding({"rate": "0.0001"})
    bills = ex.settle_funding()
    mark = ex.mark_of(BTC)
    assert mark is not None
    expect = (-D("0.0001") * D("1") * D("0.01") * mark).quantize(D("1e-8"))
    assert len(bills) == 1
    b = bills[0]
    assert (b["type"], b["subType"], D(b["pnl"]), D(b["balChg"]), b["instId"]) == (
        "8",
        "173",
        expect,
        expect,
        BTC,
    )
    assert ex.cash == cash0 + expect
    p = ex.position_json(ex.positions[(BTC, "net")])
    assert D(p["fundingFee"]) == expect
    ex.set_funding({"rate": "-0.0002"})
    assert ex.settle_funding()[0]["subType"] == "174"  # negative rate: the long receives
    funding = ex.bills_view({"type": "8"})
    assert [f["subType"] for f in funding] == ["174", "173"]  # newest first
    assert len({f["billId"] for f in funding}) == 2
    trades = ex.bills_view({"type": "2"})
    assert len(trades) == 1 and trades[0]["ordId"] and trades[0]["subType"] == "1"


def test_bills_paging_by_bill_id() -> None:
    ex = Exchange(seed=1, clock=Clock())
    ex.place_order(order(sz="1", clOrdId="long1"))
    ex.set_funding({"rate": "0.0001"})
    ids = [ex.settle_funding()[0]["billId"] for _ in range(5)]
    assert [b["billId"] for b in ex.bills_view({"type": "8", "before": ids[1], "limit": "2"})] == [
        ids[3],
        ids[2],
    ]
    assert [b["billId"] for b in ex.bills_view({"type": "8", "after": ids[3]})] == [ids[2], ids[1], ids[0]]
    assert ex.bills_view({"type": "8", "before": ids[4]}) == []


def test_funding_is_charged_at_the_configured_interval() -> None:
    with SimServer(tick_interval_ms=0, funding_interval_s=0.3, rate_limits=False) as srv:
        sim_client = SimClient(srv.url)
        sim_client.admin("funding", {"rate": "0.0001"})
        assert sim_client.post("/api/v5/trade/order", order(sz="1", clOrdId="f1"))["data"][0]["sCode"] == "0"
        wait_for(
            lambda: len(sim_client.get("/api/v5/account/bills?type=8")["data"]) >= 2, 10, "two funding bills"
        )
        assert (
            sim_client.admin("funding", {"interval_s": 0})["interval_s"] == 0
        )  # no more: the totals are final
        pos = sim_client.get(f"/api/v5/account/positions?instId={BTC}")["data"][0]
        bills = sim_client.get("/api/v5/account/bills?type=8")["data"]
        assert D(pos["fundingFee"]) == sum((D(b["pnl"]) for b in bills), D(0)) < 0


def test_ws_notice_reaches_every_connection_and_may_close_them(sim: SimServer, sim_client: SimClient) -> None:
    ws = Ws(sim.ws_url("public"))
    try:
        ws.send({"op": "subscribe", "args": [{"channel": "tickers", "instId": BTC}]})
        ws.wait(lambda m: isinstance(m, dict) and m.get("event") == "subscribe")
        assert sim_client.admin("ws/notice", {"close_after_s": 0.2})["noticed"] == 1
        m = ws.wait(lambda m: isinstance(m, dict) and m.get("event") == "notice")
        assert (m["code"], bool(m["connId"])) == ("64008", True)
        wait_for(lambda: sim_client.admin("stats")["connections"] == 0, 5, "the noticed connection closed")
    finally:
        ws.close()
