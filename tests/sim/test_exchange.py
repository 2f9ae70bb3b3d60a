"""The pure engine: matching, positions, fees, PnL, algos, timers, determinism (no sockets)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from athena.sim.exchange import Exchange
from athena.sim.util import BadParam
from tests.sim.helpers import BTC, Clock, o, pos


@pytest.fixture()
def ex() -> Exchange:
    return Exchange(seed=1, clock=Clock())


def test_market_buy_fills_at_ask_with_taker_fee(ex: Exchange) -> None:
    ask = ex.markets[BTC].best_ask
    r = ex.place_order(o(sz="0.5", clOrdId="m1"))
    assert r["sCode"] == "0" and len(r["ordId"]) == 19 and r["ordId"].isdigit()
    got = ex.get_order({"instId": BTC, "clOrdId": "m1"})
    assert got["state"] == "filled" and got["accFillSz"] == "0.5" and D(got["avgPx"]) == ask
    # fee = -0.0005 * 0.5 ct * 0.01 BTC/ct * px
    assert D(got["fee"]) == -D("0.0005") * D("0.005") * ask
    assert pos(ex) == D("0.5")
    bal = ex.balance()["details"][0]
    assert D(bal["cashBal"]) == D(100_000) + D(got["fee"])


def test_market_order_walks_the_book(ex: Exchange) -> None:
    asks = list(ex.markets[BTC].asks)
    size = asks[0][1] + asks[1][1] / 2
    ex.place_order(o(sz=str(size), clOrdId="big"))
    got = ex.get_order({"instId": BTC, "clOrdId": "big"})
    exp = (asks[0][0] * asks[0][1] + asks[1][0] * (asks[1][1] / 2)) / size
    assert D(got["avgPx"]) == exp.quantize(D("1e-10")).normalize()
    assert ex.markets[BTC].best_ask == asks[1][0]


def test_limit_rests_then_partially_fills_on_trade_through(ex: Exchange) -> None:
    bid = ex.markets[BTC].best_bid
    assert bid is not None
    r = ex.place_order(o(ord_type="limit", px=str(bid - 10), sz="1", clOrdId="l1"))
    assert ex.get_order({"instId": BTC, "ordId": r["ordId"]})["state"] == "live"
    ex.on_trade(BTC, bid - 20, D("0.3"), "sell")
    got = ex.get_order({"instId": BTC, "ordId": r["ordId"]})
    assert got["state"] == "partially_filled" and got["accFillSz"] == "0.3" and D(got["avgPx"]) == bid - 10
    assert got["fillSz"] == "0.3" and got["tradeId"]
    fills = ex.fills_view({"ordId": r["ordId"]})
    assert fills[0]["execType"] == "M" and D(fills[0]["fee"]) < 0
    ex.on_trade(BTC, bid - 20, D("5"), "sell")
    assert ex.get_order({"instId": BTC, "ordId": r["ordId"]})["state"] == "filled"
    assert pos(ex) == D(1)


def test_resting_order_fills_when_book_moves_through_it(ex: Exchange) -> None:
    r = ex.place_order(o(ord_type="limit", px="99900", sz="0.2"))
    ex.set_price(BTC, D("99800"))
    assert ex.get_order({"instId": BTC, "ordId": r["ordId"]})["state"] == "filled"
    assert ex.positions[(BTC, "net")].avgPx == D("99900")


def test_post_only_that_would_take_is_cancelled_31(ex: Exchange) -> None:
    ask = ex.markets[BTC].best_ask
    r = ex.place_order(o(ord_type="post_only", px=str(ask), clOrdId="po"))
    assert r["sCode"] == "0"
    got = ex.get_order({"instId": BTC, "ordId": r["ordId"]})
    assert got["state"] == "canceled" and got["cancelSource"] == "31" and got["accFillSz"] == "0"


def test_ioc_remainder_cancelled_14_and_fok_13(ex: Exchange) -> None:
    m = ex.markets[BTC]
    ask0, sz0 = m.asks[0][0], m.asks[0][1]
    r = ex.place_order(o(ord_type="ioc", px=str(ask0), sz=str(sz0 + 1)))
    got = ex.get_order({"instId": BTC, "ordId": r["ordId"]})
    assert got["state"] == "canceled" and got["cancelSource"] == "14" and D(got["accFillSz"]) == sz0
    ask1 = ex.markets[BTC].asks[0][0]
    r = ex.place_order(o(ord_type="fok", px=str(ask1), sz="60"))
    got = ex.get_order({"instId": BTC, "ordId": r["ordId"]})
    assert got["state"] == "canceled" and got["cancelSource"] == "13" and got["accFillSz"] == "0"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (o(sz="0.015"), "51121"),
        (o(sz="-1"), "51000"),
        (o(sz=""), "50014"),
        (o(instId="NOPE-USDT-SWAP"), "51001"),
        (o(ord_type="limit", px="100000.05"), "51000"),
        (o(ord_type="limit"), "50014"),
        (o(side="up"), "51000"),
        (o(tdMode="cash"), "51000"),
        (o(posSide="long"), "51000"),
        (o(clOrdId="bad-id!"), "51000"),
        (o(sz="20000"), "51202"),
        (o(sz="2000", ord_type="limit", px="100000"), "51008"),
    ],
)
def test_bad_orders_rejected_with_okx_codes(ex: Exchange, body: dict[str, Any], code: str) -> None:
    r = ex.place_order(body)
    assert r["sCode"] == code and r["ordId"] == "" and r["sMsg"]


def test_clordid_unique_among_pending_only(ex: Exchange) -> None:
    assert ex.place_order(o(ord_type="limit", px="90000", clOrdId="dup"))["sCode"] == "0"
    assert ex.place_order(o(ord_type="limit", px="90000", clOrdId="dup"))["sCode"] == "51016"
    assert ex.cancel_order({"instId": BTC, "clOrdId": "dup"})["sCode"] == "0"
    assert ex.cancel_order({"instId": BTC, "clOrdId": "dup"})["sCode"] == "51400"
    r = ex.place_order(o(ord_type="limit", px="90000", clOrdId="dup"))
    assert r["sCode"] == "0"
    assert ex.get_order({"instId": BTC, "clOrdId": "dup"})["ordId"] == r["ordId"]  # latest match


def test_reduce_only_net_mode(ex: Exchange) -> None:
    assert ex.place_order(o(side="sell", reduceOnly=True))["sCode"] == "51170"  # flat
    ex.place_order(o(sz="0.05"))
    assert ex.place_order(o(side="buy", reduceOnly="true"))["sCode"] == "51170"  # same direction
    assert ex.place_order(o(side="sell", sz="0.06", reduceOnly=True))["sCode"] == "51112"  # too big
    assert ex.place_order(o(side="sell", sz="0.05", reduceOnly=True))["sCode"] == "0"
    assert pos(ex) == 0


def test_net_mode_flip_and_realised_pnl(ex: Exchange) -> None:
    ex.place_order(o(sz="1"))
    entry = ex.positions[(BTC, "net")].avgPx
    assert entry is not None
    ex.set_price(BTC, D("101000"))
    bid = ex.markets[BTC].best_bid
    assert bid is not None
    ex.place_order(o(side="sell", sz="1.5"))
    p = ex.positions[(BTC, "net")]
    assert p.pos == D("-0.5") and p.avgPx == bid
    assert p.pnl == (bid - entry) * D("0.01")  # only the closed 1 contract realises PnL
    row = ex.positions_view({"instId": BTC})[0]
    assert row["pos"] == "-0.5" and D(row["realizedPnl"]) == p.pnl + p.fee


def test_long_short_mode(ex: Exchange) -> None:
    assert ex.set_position_mode({"posMode": "long_short_mode"}) == {"posMode": "long_short_mode"}
    assert ex.place_order(o())["sCode"] == "51000"  # posSide required
    assert ex.place_order(o(side="sell", posSide="long"))["sCode"] == "51169"  # nothing to close
    ex.place_order(o(posSide="long", sz="0.3"))
    ex.place_order(o(side="sell", posSide="short", sz="0.2"))
    assert pos(ex, side="long") == D("0.3") and pos(ex, side="short") == D("0.2")
    assert ex.place_order(o(side="sell", posSide="long", sz="0.4"))["sCode"] == "51112"
    # ccxt sends reduceOnly with an explicit posSide: accepted and ignored
    assert ex.place_order(o(side="sell", posSide="long", sz="0.3", reduceOnly=True))["sCode"] == "0"
    assert pos(ex, side="long") == 0
    rows = ex.positions_view({})
    assert [(r["posSide"], r["pos"]) for r in rows] == [("short", "0.2")]
    with pytest.raises(BadParam) as err:
        ex.set_position_mode({"posMode": "net_mode"})  # positions open
    assert err.value.code == "59000"
