"""The official python-okx SDK (okx package) driving the simulator over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import okx.Account as Account
import okx.MarketData as MarketData
import okx.PublicData as PublicData
import okx.Trade as Trade
import pytest

from athena.sim.client import SimClient
from athena.sim.server import SimServer
from tests.sim.helpers import BTC, KEY, PASS, SECRET

# python-okx 0.4.4 posts with httpx's deprecated data=<str>; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


class Apis:
    def __init__(self, url: str, secret: str = SECRET) -> None:
        # flag "0" = live header (x-simulated-trading: 0); the sim accepts 0, 1 or none.
        self.public = PublicData.PublicAPI(flag="0", domain=url)
        self.market = MarketData.MarketAPI(flag="0", domain=url)
        self.account = Account.AccountAPI(KEY, secret, PASS, flag="0", domain=url)
        self.trade = Trade.TradeAPI(KEY, secret, PASS, flag="1", domain=url)
        self.statuses: list[int] = []

        def hook(resp: httpx.Response) -> None:
            self.statuses.append(resp.status_code)

        for c in (self.public, self.market, self.account, self.trade):
            c.event_hooks = {"request": [], "response": [hook]}

    def close(self) -> None:
        for c in (self.public, self.market, self.account, self.trade):
            c.close()


@pytest.fixture()
def api(sim: SimServer) -> Iterator[Apis]:
    a = Apis(sim.url)
    yield a
    a.close()


def ok(r: dict[str, Any]) -> list[dict[str, Any]]:
    assert r["code"] == "0", r
    return r["data"]  # type: ignore[no-any-return]


def test_instruments_ticker_books(api: Apis) -> None:
    rows = ok(api.public.get_instruments(instType="SWAP"))
    btc = next(r for r in rows if r["instId"] == BTC)
    assert (btc["uly"], btc["instFamily"], btc["settleCcy"], btc["state"], btc["ctType"]) == (
        "BTC-USDT",
        "BTC-USDT",
        "USDT",
        "live",
        "linear",
    )
    assert Decimal(btc["ctVal"]) == Decimal("0.01") and Decimal(btc["lotSz"]) == Decimal(btc["minSz"]) > 0
    assert ok(api.public.get_instruments(instType="SWAP", instId=BTC)) == [btc]
    assert ok(api.public.get_instruments(instType="SPOT")) == []
    t = ok(api.market.get_ticker(instId=BTC))[0]
    assert t["instId"] == BTC and Decimal(t["askPx"]) > Decimal(t["bidPx"]) > 0 and int(t["ts"]) > 0
    book = ok(api.market.get_orderbook(instId=BTC, sz="5"))[0]
    asks, bids = [Decimal(a[0]) for a in book["asks"]], [Decimal(b[0]) for b in book["bids"]]
    assert len(asks) == len(bids) == 5 and asks == sorted(asks) and bids == sorted(bids, reverse=True)
    assert asks[0] > bids[0] and all(len(lv) == 4 and lv[2] == "0" for lv in book["asks"] + book["bids"])
    assert api.statuses and set(api.statuses) == {200}


def test_balance_and_set_leverage(api: Apis) -> None:
    bal = ok(api.account.get_account_balance())[0]
    usdt = next(d for d in bal["details"] if d["ccy"] == "USDT")
    assert Decimal(usdt["eq"]) == Decimal(100_000) and Decimal(usdt["availBal"]) == Decimal(100_000)
    assert ok(api.account.get_account_config())[0]["posMode"] == "net_mode"
    r = ok(api.account.set_leverage(lever="7", mgnMode="cross", instId=BTC))[0]
    assert (r["lever"], r["mgnMode"], r["instId"]) == ("7", "cross", BTC)
    assert ok(api.account.get_leverage(mgnMode="cross", instId=BTC))[0]["lever"] == "7"
    assert api.account.set_leverage(lever="500", mgnMode="cross", instId=BTC)["code"] == "59102"


def test_post_only_place_query_amend_cancel(api: Apis) -> None:
    tr = api.trade
    bid = Decimal(ok(api.market.get_ticker(instId=BTC))[0]["bidPx"])
    px = bid - 100
    placed = ok(
        tr.place_order(
            instId=BTC,
            tdMode="cross",
            side="buy",
            ordType="post_only",
            sz="0.02",
            px=str(px),
            clOrdId="okxPo1",
        )
    )[0]
    assert placed["sCode"] == "0" and placed["clOrdId"] == "okxPo1" and placed["ordId"].isdigit()
    oid = placed["ordId"]
    by_id = ok(tr.get_order(instId=BTC, ordId=oid))[0]
    by_cl = ok(tr.get_order(instId=BTC, clOrdId="okxPo1"))[0]
    assert by_id == by_cl
    assert (by_id["state"], by_id["ordType"], Decimal(by_id["px"]), by_id["accFillSz"], by_id["avgPx"]) == (
        "live",
        "post_only",
        px,
        "0",
        "",
    )
    assert [o["ordId"] for o in ok(tr.get_order_list(instType="SWAP"))] == [oid]
    am = ok(tr.amend_order(instId=BTC, ordId=oid, newPx=str(px - 1), newSz="0.03", reqId="r1"))[0]
    assert am["sCode"] == "0" and am["reqId"] == "r1"
    got = ok(tr.get_order(instId=BTC, clOrdId="okxPo1"))[0]
    assert Decimal(got["px"]) == px - 1 and Decimal(got["sz"]) == Decimal("0.03") and got["state"] == "live"
    crossing = tr.amend_order(instId=BTC, ordId=oid, newPx=str(bid + 1000))  # would take: post-only violated
    assert crossing["code"] == "1" and crossing["data"][0]["sCode"] == "51511"
    c = ok(tr.cancel_order(instId=BTC, ordId=oid))[0]
    assert c["sCode"] == "0" and c["ordId"] == oid
    gone = ok(tr.get_order(instId=BTC, ordId=oid))[0]
    assert gone["state"] == "canceled" and gone["cancelSource"] == "1"
    again = tr.cancel_order(instId=BTC, ordId=oid)
    assert again["code"] == "1" and again["data"][0]["sCode"] == "51400"
    assert ok(tr.get_order_list(instType="SWAP")) == []
    # a post-only that would take is accepted, then cancelled by the engine (cancelSource 31)
    ask = Decimal(ok(api.market.get_ticker(instId=BTC))[0]["askPx"])
    r = ok(
        tr.place_order(
            instId=BTC,
            tdMode="cross",
            side="buy",
            ordType="post_only",
            sz="0.01",
            px=str(ask),
            clOrdId="okxPo2",
        )
    )[0]
    late = ok(tr.get_order(instId=BTC, ordId=r["ordId"]))[0]
    assert (late["state"], late["cancelSource"], late["accFillSz"]) == ("canceled", "31", "0")
    assert tr.get_order(instId=BTC, clOrdId="nosuch")["code"] == "51603"


def test_market_order_fills_into_a_position_and_fills(api: Apis) -> None:
    tr = api.trade
    ask = Decimal(ok(api.market.get_ticker(instId=BTC))[0]["askPx"])
    r = ok(
        tr.place_order(instId=BTC, tdMode="cross", side="buy", ordType="market", sz="0.05", clOrdId="okxMkt1")
    )[0]
    o = ok(tr.get_order(instId=BTC, ordId=r["ordId"]))[0]
    assert (o["state"], o["accFillSz"], Decimal(o["avgPx"])) == ("filled", "0.05", ask) and Decimal(
        o["fee"]
    ) < 0
    pos = ok(api.account.get_positions(instType="SWAP", instId=BTC))[0]
    assert (pos["posSide"], Decimal(pos["pos"]), Decimal(pos["avgPx"]), pos["mgnMode"]) == (
        "net",
        Decimal("0.05"),
        ask,
        "cross",
    )
    fills = ok(tr.get_fills(instType="SWAP", instId=BTC))
    assert len(fills) == 1
    f = fills[0]
    assert (
        f["ordId"],
        f["clOrdId"],
        Decimal(f["fillSz"]),
        Decimal(f["fillPx"]),
        f["execType"],
        f["side"],
    ) == (r["ordId"], "okxMkt1", Decimal("0.05"), ask, "T", "buy")
    # taker fee 5 bp of notional 0.05 ct * 0.01 BTC * px
    assert Decimal(f["fee"]) == -(Decimal("0.05") * Decimal("0.01") * ask * Decimal("0.0005"))
    assert ok(tr.get_fills(instType="SWAP", ordId=r["ordId"])) == fills


def _open_long(api: Apis, sz: str = "0.05") -> None:
    r = ok(api.trade.place_order(instId=BTC, tdMode="cross", side="buy", ordType="market", sz=sz))[0]
    assert r["sCode"] == "0"


def test_algo_stop_place_list_cancel_trigger(api: Apis, sim_client: SimClient) -> None:
    tr = api.trade
    _open_long(api)

    def stop(cl: str) -> str:
        r = ok(
            tr.place_algo_order(
                instId=BTC,
                tdMode="cross",
                side="sell",
                ordType="conditional",
                sz="0.05",
                reduceOnly="true",
                slTriggerPx="90000",
                slOrdPx="-1",
                algoClOrdId=cl,
            )
        )[0]
        assert r["sCode"] == "0" and r["algoClOrdId"] == cl
        return str(r["algoId"])

    a1 = stop("okxSl1")
    listed = ok(tr.order_algos_list(ordType="conditional", instType="SWAP"))
    assert [(x["algoId"], x["state"], x["slTriggerPx"], x["slOrdPx"]) for x in listed] == [
        (a1, "live", "90000", "-1")
    ]
    c = ok(tr.cancel_algo_order([{"instId": BTC, "algoId": a1}]))[0]
    assert c["sCode"] == "0" and c["algoId"] == a1
    assert ok(tr.order_algos_list(ordType="conditional")) == []
    assert ok(tr.order_algos_history(ordType="conditional", algoId=a1))[0]["state"] == "canceled"
    a2 = stop("okxSl2")
    sim_client.admin("price", {"instId": BTC, "px": "89000"})  # last and mark drop through the trigger
    assert ok(tr.order_algos_list(ordType="conditional")) == []
    done = ok(tr.order_algos_history(ordType="conditional", state="effective"))
    assert [d["algoId"] for d in done] == [a2]
    assert done[0]["actualSide"] == "sl" and done[0]["ordIdList"]
    closing = ok(tr.get_order(instId=BTC, ordId=done[0]["ordIdList"][0]))[0]
    assert (closing["state"], closing["side"], closing["algoId"], closing["accFillSz"]) == (
        "filled",
        "sell",
        a2,
        "0.05",
    )
    assert all(Decimal(p["pos"]) == 0 for p in ok(api.account.get_positions(instType="SWAP")))


def test_close_position(api: Apis) -> None:
    _open_long(api, "0.07")
    r = ok(api.trade.close_positions(instId=BTC, mgnMode="cross", clOrdId="okxClose1"))[0]
    assert (r["instId"], r["posSide"], r["clOrdId"]) == (BTC, "net", "okxClose1")
    o = ok(api.trade.get_order(instId=BTC, clOrdId="okxClose1"))[0]
    assert (o["state"], o["side"], o["accFillSz"], o["reduceOnly"]) == ("filled", "sell", "0.07", "true")
    assert all(Decimal(p["pos"]) == 0 for p in ok(api.account.get_positions(instType="SWAP")))
    nothing = api.trade.close_positions(instId=BTC, mgnMode="cross")
    assert nothing["code"] == "51023"


def test_bad_signature_is_401_50113(sim: SimServer) -> None:
    bad = Apis(sim.url, secret="not-the-secret")
    try:
        r = bad.account.get_account_balance()
        assert r == {"code": "50113", "msg": "Invalid Sign", "data": []}
        r = bad.trade.place_order(instId=BTC, tdMode="cross", side="buy", ordType="market", sz="0.01")
        assert r["code"] == "50113"
        assert bad.statuses == [401, 401]
    finally:
        bad.close()
    assert sim.call(lambda: len(sim.exchange.orders)) == 0


def test_bad_size_gives_51xxx(api: Apis) -> None:
    tr = api.trade
    r = tr.place_order(instId=BTC, tdMode="cross", side="buy", ordType="market", sz="0.015")  # lotSz 0.01
    assert r["code"] == "1" and r["data"][0]["sCode"] == "51121" and r["data"][0]["ordId"] == ""
    r = tr.place_order(instId=BTC, tdMode="cross", side="buy", ordType="market", sz="1000000")  # > maxMktSz
    assert r["data"][0]["sCode"] == "51202"
    batch = tr.place_multiple_orders(
        [
            {
                "instId": BTC,
                "tdMode": "cross",
                "side": "buy",
                "ordType": "limit",
                "px": "50000",
                "sz": "0.01",
            },
            {
                "instId": BTC,
                "tdMode": "cross",
                "side": "buy",
                "ordType": "limit",
                "px": "50000",
                "sz": "0.001",
            },
        ]
    )
    assert batch["code"] == "2" and [d["sCode"] for d in batch["data"]] == ["0", "51121"]
    assert api.statuses[-1] == 200
