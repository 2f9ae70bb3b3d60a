"""ccxt's okx class (sync, requests) driving the simulator: unified methods plus a few implicit API calls."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest
import requests

from athena.sim.client import SimClient
from athena.sim.server import SimServer
from tests.sim.helpers import BTC, KEY, PASS, SECRET

SYM = "BTC/USDT:USDT"


def make_okx(sim: SimServer, secret: str = SECRET) -> Any:
    ex = ccxt.okx(
        {"apiKey": KEY, "secret": secret, "password": PASS, "enableRateLimit": False, "timeout": 10_000}
    )
    ex.urls["api"]["rest"] = sim.url  # the hostname option cannot change the scheme (OKX_FACTS §12)
    ex.hostname = f"{sim.config.host}:{sim.port}"
    ex.options["fetchMarkets"] = {"types": ["swap"]}
    ex.statuses = []

    def hook(resp: requests.Response, *a: Any, **kw: Any) -> None:
        ex.statuses.append(resp.status_code)

    ex.session.hooks["response"].append(hook)
    return ex


@pytest.fixture()
def ex(sim: SimServer) -> Iterator[Any]:
    e = make_okx(sim)
    e.load_markets()  # signed /asset/currencies, then /public/instruments?instType=SWAP
    yield e
    e.session.close()


def test_markets_ticker_order_book(ex: Any) -> None:
    m = ex.market(SYM)
    assert (m["id"], m["type"], m["linear"], m["settle"], m["contractSize"], m["active"]) == (
        BTC,
        "swap",
        True,
        "USDT",
        0.01,
        True,
    )
    assert m["precision"]["amount"] == 0.01 and m["limits"]["amount"]["min"] == 0.01
    t = ex.fetch_ticker(SYM)
    assert t["symbol"] == SYM and t["ask"] > t["bid"] > 0
    ob = ex.fetch_order_book(SYM, 5)
    assert len(ob["asks"]) == len(ob["bids"]) == 5 and ob["asks"][0][0] > ob["bids"][0][0]
    assert [a[0] for a in ob["asks"]] == sorted(a[0] for a in ob["asks"])
    assert set(ex.statuses) == {200}


def test_balance_and_leverage(ex: Any) -> None:
    bal = ex.fetch_balance()
    assert bal["USDT"] == {"free": 100000.0, "used": 0.0, "total": 100000.0}
    r = ex.set_leverage(5, SYM)  # ccxt sends lever as a JSON number
    assert r["code"] == "0" and r["data"][0]["lever"] == "5"
    assert ex.fetch_leverage(SYM)["longLeverage"] == 5


def test_post_only_place_query_amend_cancel(ex: Any) -> None:
    bid = ex.fetch_ticker(SYM)["bid"]
    px = bid - 50
    o = ex.create_order(SYM, "limit", "buy", 0.02, px, {"postOnly": True, "clOrdId": "ccxtPo1"})
    assert o["id"] and o["clientOrderId"] == "ccxtPo1"
    by_id = ex.fetch_order(o["id"], SYM)
    by_cl = ex.fetch_order(None, SYM, {"clOrdId": "ccxtPo1"})
    assert by_id["id"] == by_cl["id"] == o["id"]
    assert (by_id["status"], by_id["postOnly"], by_id["price"], by_id["amount"], by_id["filled"]) == (
        "open",
        True,
        px,
        0.02,
        0.0,
    )
    assert [x["id"] for x in ex.fetch_open_orders(SYM)] == [o["id"]]
    edited = ex.edit_order(o["id"], SYM, "limit", "buy", 0.03, px - 1)
    assert edited["id"] == o["id"]
    got = ex.fetch_order(o["id"], SYM)
    assert (got["price"], got["amount"]) == (px - 1, 0.03)
    c = ex.cancel_order(o["id"], SYM)
    assert c["id"] == o["id"]
    assert ex.fetch_order(o["id"], SYM)["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):  # 51400
        ex.cancel_order(o["id"], SYM)
    with pytest.raises(ccxt.OrderNotFound):  # 51603
        ex.fetch_order("123", SYM)
    assert ex.fetch_open_orders(SYM) == []


def test_market_order_fills_into_a_position(ex: Any) -> None:
    ask = ex.fetch_ticker(SYM)["ask"]
    o = ex.create_order(SYM, "market", "buy", 0.05, None, {"clOrdId": "ccxtMkt1"})
    got = ex.fetch_order(o["id"], SYM)
    assert (got["status"], got["filled"], got["average"], got["side"]) == ("closed", 0.05, ask, "buy")
    assert got["fee"]["currency"] == "USDT" and got["fee"]["cost"] > 0  # ccxt negates OKX's negative fee
    (pos,) = ex.fetch_positions([SYM])
    assert (pos["symbol"], pos["side"], pos["contracts"], pos["entryPrice"], pos["marginMode"]) == (
        SYM,
        "long",
        0.05,
        ask,
        "cross",
    )
    trades = ex.fetch_my_trades(SYM)  # fills-history
    assert [(t["order"], t["amount"], t["price"], t["takerOrMaker"]) for t in trades] == [
        (o["id"], 0.05, ask, "taker")
    ]
    fills = ex.privateGetTradeFills({"instType": "SWAP", "instId": BTC})
    assert fills["code"] == "0" and fills["data"][0]["clOrdId"] == "ccxtMkt1"


def test_algo_stop_place_list_cancel_trigger(ex: Any, sim_client: SimClient) -> None:
    ex.create_order(SYM, "market", "buy", 0.05)
    params = {"stopLossPrice": 90000, "reduceOnly": True}
    st = ex.create_order(SYM, "market", "sell", 0.05, None, params)  # -> /trade/order-algo conditional
    open_stops = ex.fetch_open_orders(SYM, params={"stop": True, "ordType": "conditional"})
    assert [(x["id"], x["stopLossPrice"], x["status"]) for x in open_stops] == [(st["id"], 90000.0, "open")]
    ex.cancel_order(st["id"], SYM, {"stop": True})
    assert ex.fetch_open_orders(SYM, params={"stop": True, "ordType": "conditional"}) == []
    st2 = ex.create_order(SYM, "market", "sell", 0.05, None, params)
    sim_client.admin("price", {"instId": BTC, "px": "89500"})
    assert ex.fetch_open_orders(SYM, params={"stop": True, "ordType": "conditional"}) == []
    hist = ex.fetch_closed_orders(SYM, params={"stop": True, "ordType": "conditional", "state": "effective"})
    assert [(h["id"], h["status"]) for h in hist] == [(st2["id"], "closed")]
    assert ex.fetch_positions([SYM]) == [] or ex.fetch_positions([SYM])[0]["contracts"] in (0, 0.0, None)


def test_close_position(ex: Any) -> None:
    ex.create_order(SYM, "market", "sell", 0.04)
    (pos,) = ex.fetch_positions([SYM])
    assert (pos["side"], pos["contracts"]) == ("short", 0.04)
    r = ex.close_position(SYM)
    assert r["info"]["instId"] == BTC and r["info"]["posSide"] == "net"
    closing = [o for o in ex.fetch_closed_orders(SYM) if o["side"] == "buy"]
    assert closing and closing[0]["filled"] == 0.04 and closing[0]["reduceOnly"] is True
    left = ex.fetch_positions([SYM])
    assert left == [] or left[0]["contracts"] in (0, 0.0, None)
    with pytest.raises(ccxt.ExchangeError):  # 51023 position does not exist
        ex.close_position(SYM)


def test_bad_signature_is_401_50113(sim: SimServer, ex: Any) -> None:
    bad = make_okx(sim, secret="wrong")
    bad.markets, bad.markets_by_id, bad.symbols = (
        ex.markets,
        ex.markets_by_id,
        ex.symbols,
    )  # skip load_markets
    with pytest.raises(ccxt.AuthenticationError) as err:
        bad.fetch_balance()
    assert '"code":"50113"' in str(err.value)
    with pytest.raises(ccxt.AuthenticationError):
        bad.create_order(SYM, "market", "buy", 0.01)
    assert bad.statuses == [401, 401]
    assert sim.call(lambda: len(sim.exchange.orders)) == 0


def test_bad_size_gives_51xxx(ex: Any) -> None:
    with pytest.raises(ccxt.InvalidOrder) as err:  # above maxMktSz: 51202
        ex.create_order(SYM, "market", "buy", 1_000_000)
    assert '"sCode":"51202"' in str(err.value)
    # ccxt truncates amounts to lotSz itself; the implicit API sends the raw size
    with pytest.raises(ccxt.InvalidOrder) as err:
        ex.privatePostTradeOrder(
            {"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "0.015"}
        )
    assert '"sCode":"51121"' in str(err.value)
    with pytest.raises(ccxt.InsufficientFunds):  # 51008: margin for 10,000 BTC at 1x is not there
        ex.create_order(SYM, "limit", "buy", 1_000_000, 50000, {"postOnly": True})
    assert Decimal(ex.fetch_balance()["USDT"]["total"]) == 100000
