"""Every relevant real payload in tests/data/okx_samples goes through the parsers."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import replace
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from athena.domain import (
    AlgoOrder,
    AlgoState,
    BookTop,
    Level,
    OrderRequest,
    OrderState,
    OrderUpdate,
    OrdType,
    Position,
    PosMode,
    PosSide,
    Side,
    TdMode,
    Ticker,
    Trade,
)
from athena.okx import parse
from athena.okx.errors import ParseError
from athena.okx.types import (
    AccountConfig,
    Balance,
    BalanceDetail,
    Bill,
    CancelAllAfter,
    ClosePositionAck,
    LeverageInfo,
    Maintenance,
    OkxFill,
    OrderAck,
    PriceLimit,
    TradeFee,
)
from tests.okx.samples import load


def docs(prefix: str) -> Any:
    d = load("okx_docs_examples.json")
    (key,) = [k for k in d if k.split(" ")[0] == prefix]
    return d[key]


def ccxt(key: str) -> Any:
    return load("ccxt_static_response_okx_swap_excerpt.json")[key]


def test_instruments_sample() -> None:
    rows = load("nautilus_http_get_instruments_swap.json")["data"]
    insts = {i.instId: i for i in map(parse.instrument, rows)}
    btc = insts["BTC-USDT-SWAP"]
    assert (btc.ctVal, btc.lotSz, btc.minSz, btc.tickSz) == (
        Decimal("0.01"),
        Decimal("0.01"),
        Decimal("0.01"),
        Decimal("0.1"),
    )
    assert btc.maxMktSz == Decimal(12000) and btc.lever == Decimal(100) and btc.settleCcy == "USDT"
    assert insts["BTC-USD-SWAP"].ctType == "inverse" and insts["ETH-USDT-SWAP"].tickSz == Decimal("0.01")


def test_instrument_missing_field_is_parse_error() -> None:
    with pytest.raises(ParseError):
        parse.instrument({"instId": "X", "ctVal": "1"})
    with pytest.raises(ParseError):
        parse.instrument(["not", "a", "dict"])


def test_ws_order_filled_sample() -> None:
    u = parse.order_update(load("nautilus_ws_orders.json")["data"][0])
    assert u.state is OrderState.FILLED and u.source == "ws"
    assert u.clOrdId == "001BTCUSDT20250106001" and u.ordId == "2497956918703120384"
    assert u.accFillSz == Decimal("0.03") and u.avgPx == Decimal("103698.9")
    assert u.fillSz == Decimal("0.03") and u.fillPx == Decimal("103698.9") and u.tradeId == "1518905529"
    assert u.fee == Decimal("-0.021776769") and u.feeCcy == "USDT" and u.execType == "M"
    assert u.px is None  # market order: "" is absent, never 0
    assert u.side is Side.BUY and u.posSide is PosSide.LONG and u.ordType is OrdType.MARKET
    assert u.reduceOnly is False and u.uTime == 1746947317402


def test_ws_order_docs_example_with_fill_fee() -> None:
    u = parse.order_update(docs("ws_orders_push_docs_example")["data"][0])
    assert u.fillFee == Decimal("-0.02522168") and u.posSide is None and u.clOrdId == ""
    assert u.state is OrderState.FILLED and u.fillSz == Decimal("0.001")


def test_rest_orders_pending_live_no_fill() -> None:
    u = parse.order_update(
        ccxt("fetchOpenOrders_orders_pending_swap_post_only")["data"][0], source="rest_query"
    )
    assert u.state is OrderState.LIVE and u.ordType is OrdType.POST_ONLY
    assert u.accFillSz == 0 and u.avgPx is None and u.fillPx is None and u.tradeId is None
    assert u.px == Decimal("0.2") and u.sz == Decimal(50)


def test_rest_orders_history_filled() -> None:
    u = parse.order_update(ccxt("fetchClosedOrders_orders_history_swap_market_filled")["data"][0])
    assert u.state is OrderState.FILLED and u.avgPx == Decimal("68.24") and u.accFillSz == 1


def test_ws_avgpx_zero_without_fill_is_none() -> None:
    row = dict(
        load("nautilus_ws_orders.json")["data"][0],
        state="live",
        accFillSz="0",
        avgPx="0",
        fillSz="0",
        fillPx="0",
        tradeId="",
    )
    u = parse.order_update(row)
    assert (
        u.state is OrderState.LIVE
        and u.avgPx is None
        and u.fillPx is None
        and u.tradeId is None
        and u.execType is None
    )


@pytest.mark.parametrize(
    "mutation",
    # an unknown state carrying fills is read from the sizes
    # (test_an_order_in_a_state_athena_does_not_know...)
    [
        {"state": "weird", "accFillSz": "0"},
        {"accFillSz": 1.5},
        {"accFillSz": "abc"},
        {"instId": ""},
        {"side": "up"},
        {"reduceOnly": "maybe"},
    ],
)
def test_bad_order_raises_parse_error(mutation: dict[str, Any]) -> None:
    row = dict(load("nautilus_ws_orders.json")["data"][0], **mutation)
    with pytest.raises(ParseError):
        parse.order_update(row)


def test_order_ack_and_rejection_samples() -> None:
    req = OrderRequest("oktswap6", "BTC-USDT-SWAP", Side.BUY, OrdType.LIMIT, Decimal(1), Decimal(100))
    item = docs("rest_place_order_response")["data"][0]
    u = parse.order_ack(item, req)
    assert u.state is OrderState.LIVE and u.ordId == "312269865356374016" and u.source == "rest_ack"
    batch = ccxt("createOrder_batch_orders_market_with_attached_sl")["data"][0]
    assert parse.order_ack(batch, replace(req, clOrdId=batch["clOrdId"])).ordId == "2896576259728695296"
    with pytest.raises(ParseError, match="clOrdId"):  # an ack naming another order is never booked under ours
        parse.order_ack(batch, req)
    rej = docs("rest_order_rejected_typical")["data"][0]
    r = parse.order_rejected(req, rej["sCode"], rej["sMsg"])
    assert r.state is OrderState.REJECTED and r.sCode == "51016"
    ack = parse.order_ack_plain(docs("rest_cancel_order_response")["data"][0])
    assert ack.ordId == "12345689" and ack.clOrdId == "oktswap6" and ack.ts == 1695190491421


def test_algo_samples() -> None:
    a = parse.algo_order(ccxt("fetchOpenOrders_orders_algo_pending_conditional_swap")["data"][0])
    assert a.algoId == "2017146754403004416" and a.slTriggerPx == Decimal(100) and a.state is AlgoState.LIVE
    assert a.sz == 1 and a.side is Side.BUY and a.reduceOnly is False and a.slTriggerPxType == "last"
    rows = load("nautilus_ws_orders_algo.json")["data"]
    algos = [parse.algo_order(r) for r in rows]
    assert [x.state for x in algos] == [
        AlgoState.LIVE,
        AlgoState.LIVE,
        AlgoState.EFFECTIVE,
        AlgoState.CANCELED,
        AlgoState.EFFECTIVE,
    ]
    assert (
        algos[0].slTriggerPx == Decimal(95000) and algos[0].reduceOnly and algos[1].slTriggerPxType == "mark"
    )
    assert algos[2].tdMode is TdMode.ISOLATED and algos[2].posSide is PosSide.LONG
    pending = parse.algo_order(load("nautilus_http_get_orders_algo_pending.json")["data"][0])
    assert pending.algoClOrdId == "client_algo_1" and pending.slTriggerPx == Decimal(40000)


def test_algo_take_profit_only_is_parse_error() -> None:
    row = ccxt("fetchOpenOrders_orders_algo_pending_conditional_swap")["data"][0]
    with pytest.raises(ParseError):
        parse.algo_order(dict(row, slTriggerPx="", tpTriggerPx="120"))
    for bad in (
        {"closeFraction": "0.5", "sz": ""},
        {"closeFraction": "x", "sz": ""},
        {"closeFraction": "", "sz": ""},
    ):
        with pytest.raises(ParseError):
            parse.algo_order(dict(row, **bad))


def test_algo_whole_position_stop_has_no_sz_and_covers_the_position() -> None:
    # What OKX lists when a person sets TP/SL on a position in the app: closeFraction "1", sz "".
    row = dict(
        ccxt("fetchOpenOrders_orders_algo_pending_conditional_swap")["data"][0],
        sz="",
        closeFraction="1",
        reduceOnly="true",
        side="sell",
    )
    a = parse.algo_order(row)
    assert a.sz is None and a.closeFraction == Decimal(1) and a.whole_position
    assert a.side is Side.SELL and a.slTriggerPx == Decimal(100) and a.state is AlgoState.LIVE
    assert a.covers(Decimal(7)) == Decimal(7) and a.covers(Decimal("-0.3")) == Decimal("0.3")
    sized = parse.algo_order(ccxt("fetchOpenOrders_orders_algo_pending_conditional_swap")["data"][0])
    assert sized.closeFraction is None and not sized.whole_position and sized.covers(Decimal(7)) == Decimal(1)


def test_position_sample() -> None:
    p = parse.position(ccxt("fetchPosition_LTC_USDT_SWAP_long_cross")["data"][0])
    assert p.instId == "LTC-USDT-SWAP" and p.posSide is PosSide.LONG and p.pos == 2
    assert p.avgPx == Decimal("82.675") and p.markPx == Decimal("101.33") and p.liqPx is None
    assert p.mgnMode is TdMode.CROSS and p.lever == 10 and p.realizedPnl == Decimal("-0.0154998159554622")
    assert p.extra["posId"] == "653944598162657280" and "liqPx" not in p.extra and p.signed == 2


@pytest.mark.parametrize("name", ["nautilus_http_get_account_balance.json", "nautilus_ws_account.json"])
def test_balance_samples(name: str) -> None:
    b = parse.balance(load(name)["data"][0])
    usdt = b.get("USDT")
    assert usdt is not None and usdt.eq is not None and usdt.eq > 0 and usdt.available is not None
    assert b.totalEq is not None and b.totalEq > 0 and b.upl is None  # "" stays absent
    assert all(isinstance(v.eq, Decimal) for v in b.details.values())


def test_account_config_samples() -> None:
    c = parse.account_config(ccxt("fetchAccounts_account_config")["data"][0])
    assert c.posMode is PosMode.NET and c.can_trade and c.uid == "374579799097793561"
    assert parse.account_config(docs("rest_account_config")["data"][0]).acctLv == "2"


def test_fills_sample() -> None:
    f = parse.fill(ccxt("fetchMyTrades_fill_spot_fields")["data"][0])
    assert (
        f.tradeId == "56181695"
        and f.fillPx == Decimal("67.84")
        and f.fee == Decimal("-0.0001")
        and f.execType == "T"
    )


def test_small_replies() -> None:
    lev = parse.leverage(docs("rest_set_leverage")["response"]["data"][0])
    assert lev.lever == 30 and lev.mgnMode is TdMode.ISOLATED and lev.posSide is PosSide.LONG
    cp = parse.close_position_ack(docs("rest_close_position_request_response")["response"]["data"][0])
    assert cp.instId == "BTC-USDT-SWAP" and cp.posSide is PosSide.LONG
    caa = parse.cancel_all_after(docs("rest_cancel_all_after")["response"]["data"][0])
    assert caa.triggerTime == 1587971460 and caa.ts == 1587971400


def test_books5_bbo_and_rest_books() -> None:
    msg = docs("ws_books5_push")
    top = parse.book_top("BCH-USDT-SWAP", msg["data"][0])
    assert len(top.bids) == 5 and len(top.asks) == 5 and top.seqId == 363996337
    assert (
        top.best_bid.px == Decimal("111.05")
        and top.best_ask.px == Decimal("111.06")
        and top.best_ask.count == 2
    )
    assert top.bids[0].px > top.bids[-1].px and not top.is_crossed
    bbo = parse.book_top("BTC-USDT", load("nautilus_ws_bbo_tbt.json")["data"][0])
    assert bbo.best_bid.sz == 256 and bbo.spread == Decimal("0.01")
    rest = parse.book_top("BTC-USDT-SWAP", ccxt("fetchOrderBook_swap_sz2")["data"][0])
    assert rest.seqId == -1 and rest.best_ask.px == Decimal("43466.4")


def test_ticker_and_trades() -> None:
    t = parse.ticker(ccxt("fetchTicker_spot")["data"][0])
    assert t.last == Decimal("73384.8") and t.bidSz == Decimal("0.0655768") and t.ts == 1710328243709
    t2 = parse.ticker(
        {"instId": "X", "last": "", "bidPx": "", "bidSz": "", "askPx": "1", "askSz": "2", "ts": "5"}
    )
    assert t2.last is None and t2.bidPx is None and t2.askPx == 1
    for src in (load("nautilus_ws_trades.json"), docs("ws_trades_push")):
        tr = parse.trade(src["data"][0])
        assert tr.tradeId == "130639474" and tr.px == Decimal("42219.9") and tr.side == "buy"
    assert parse.trade(ccxt("fetchTrades_public")["data"][0]).side == "sell"


@pytest.mark.parametrize(
    "bad",
    [
        {"bids": [["1", 2, "0", "1"]], "asks": [], "ts": "1"},
        {"bids": [], "asks": [], "ts": "x"},
        {"bids": [[]], "asks": [], "ts": "1"},
        {"asks": [], "ts": "1"},
        "nope",
    ],
)
def test_bad_books_raise_parse_error(bad: Any) -> None:
    with pytest.raises(ParseError):
        parse.book_top("X", bad)


def test_loads_rejects_garbage() -> None:
    with pytest.raises(ParseError):
        parse.loads(b"{not json")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)
ORDER_KEYS = [
    "state",
    "instId",
    "accFillSz",
    "avgPx",
    "fillSz",
    "fillPx",
    "side",
    "posSide",
    "sz",
    "px",
    "reduceOnly",
    "uTime",
    "fee",
]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(ORDER_KEYS), json_values, max_size=len(ORDER_KEYS)), json_values)
def test_parsers_never_leak_other_exceptions(row: dict[str, Any], other: Any) -> None:
    """Whatever arrives, a parser returns a value or raises ParseError: nothing else escapes."""
    for fn in (
        parse.order_update,
        parse.position,
        parse.algo_order,
        parse.balance,
        parse.ticker,
        parse.trade,
        parse.fill,
        parse.instrument,
        lambda r: parse.book_top("X", r),
    ):
        for arg in (row, other):
            try:
                fn(arg)
            except ParseError:
                pass


def test_orjson_round_trip_keeps_decimal_strings() -> None:
    raw = orjson.dumps(load("nautilus_ws_orders.json"))
    u = parse.order_update(parse.loads(raw)["data"][0])
    assert str(u.fee) == "-0.021776769"


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-inf", "sNaN"])
def test_book_level_must_be_finite(bad: str) -> None:
    with pytest.raises(ParseError):
        parse.book_top("X", {"bids": [[bad, "1", "0", "1"]], "asks": [], "ts": "1"})
    with pytest.raises(ParseError):
        parse.book_top("X", {"bids": [], "asks": [["1", bad, "0", "1"]], "ts": "1"})


def test_an_order_in_a_state_athena_does_not_know_keeps_its_fill(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "logged once" is per process: a fresh set, or a second run in one process (mutmut's) logs nothing
    monkeypatch.setattr(parse, "_UNKNOWN_STATES", set())
    row = load("nautilus_ws_orders.json")["data"][0]  # filled 0.03 of 0.03, tradeId 1518905529
    caplog.set_level(logging.WARNING, logger="athena.okx.parse")
    full = parse.order_update(dict(row, state="brand_new_state"))
    assert (full.state, full.accFillSz, full.fillSz, full.tradeId) == (
        OrderState.FILLED,
        Decimal("0.03"),
        Decimal("0.03"),
        "1518905529",
    )
    part = parse.order_update(
        dict(row, state="brand_new_state", accFillSz="0.01", fillSz="0.01"), source="rest_query"
    )
    assert part.state is OrderState.PARTIALLY_FILLED and part.accFillSz == Decimal("0.01")
    unknown_size = parse.order_update(dict(row, state="another_state", sz=""))
    assert unknown_size.state is OrderState.PARTIALLY_FILLED  # cannot tell it is complete: not terminal
    logged = [r.getMessage() for r in caplog.records if "state" in r.getMessage()]
    assert (
        len(logged) == 2 and "brand_new_state" in logged[0] and "another_state" in logged[1]
    )  # once per value
    with pytest.raises(ParseError):  # no fill to keep: still refused
        parse.order_update(dict(row, state="brand_new_state", accFillSz="0", fillSz="0"))
    with pytest.raises(ParseError):
        parse.order_update(dict(row, state=None))


# -- every field from the key OKX names it, absent as None/""/0 (found by mutation testing, #22) -----------
D = Decimal


def test_fill_reads_every_field_and_defaults_the_absent_ones() -> None:
    row = {
        "instId": "BTC-USDT-SWAP", "tradeId": "t1", "ordId": "o1", "clOrdId": "c1", "side": "sell",
        "posSide": "short", "fillPx": "101.5", "fillSz": "2", "fee": "-0.3", "feeCcy": "USDT",
        "execType": "M", "billId": "b1", "fillPnl": "4.5", "ts": "1700", "fillTime": "1699",
    }  # fmt: skip
    assert parse.fill(row) == OkxFill(
        instId="BTC-USDT-SWAP", tradeId="t1", ordId="o1", clOrdId="c1", side=Side.SELL, posSide=PosSide.SHORT,
        fillPx=D("101.5"), fillSz=D(2), fee=D("-0.3"), feeCcy="USDT", execType="M", billId="b1",
        fillPnl=D("4.5"), ts=1700,
    )  # fmt: skip
    bare = {"instId": "X", "tradeId": "t2", "side": "buy", "fillPx": "1", "fillSz": "1", "fillTime": "9"}
    assert parse.fill(bare) == OkxFill(
        instId="X", tradeId="t2", ordId="", clOrdId="", side=Side.BUY, posSide=PosSide.NET, fillPx=D(1),
        fillSz=D(1), fee=None, feeCcy="", execType="", billId="", fillPnl=None, ts=9,
    )  # fmt: skip
    assert parse.fill(dict(bare, fillTime="")).ts == 0
    for bad in ({"instId": ""}, {"tradeId": None}, {"side": "up"}, {"fillPx": ""}, {"fillSz": 1}):
        with pytest.raises(ParseError):
            parse.fill(dict(row, **bad))


def test_position_reads_every_field_and_keeps_the_other_okx_fields_as_sent() -> None:
    row = {
        "instId": "BTC-USDT-SWAP", "posSide": "long", "pos": "3", "avgPx": "100.5", "mgnMode": "isolated",
        "markPx": "101", "upl": "1.5", "realizedPnl": "-0.2", "lever": "5", "liqPx": "80", "uTime": "1700",
        "posId": "p1", "availPos": "", "adl": 2, "ccy": None,
    }  # fmt: skip
    assert parse.position(row) == Position(
        instId="BTC-USDT-SWAP", posSide=PosSide.LONG, pos=D(3), avgPx=D("100.5"), mgnMode=TdMode.ISOLATED,
        markPx=D(101), upl=D("1.5"), realizedPnl=D("-0.2"), lever=D(5), liqPx=D(80), uTime=1700,
        extra={"posId": "p1", "adl": "2"},
    )  # fmt: skip
    assert parse.position({"instId": "X", "pos": "-1"}) == Position("X", PosSide.NET, D(-1), None)
    for bad in ({"instId": ""}, {"pos": ""}, {"posSide": "up"}, {"mgnMode": "up"}, {"uTime": "x"}):
        with pytest.raises(ParseError):
            parse.position(dict(row, **bad))


def test_balance_reads_every_field_of_the_account_and_each_currency() -> None:
    detail = {
        "ccy": "USDT", "eq": "10", "cashBal": "9", "availBal": "8", "availEq": "7", "frozenBal": "6",
        "ordFrozen": "5", "upl": "4", "eqUsd": "3", "uTime": "1700",
    }  # fmt: skip
    row = {
        "totalEq": "100", "upl": "1", "imr": "2", "mmr": "3", "mgnRatio": "4", "uTime": "1800",
        "details": [detail, {"ccy": "BTC"}],
    }  # fmt: skip
    usdt = BalanceDetail("USDT", D(10), D(9), D(8), D(7), D(6), D(5), D(4), D(3), uTime=1700)
    btc = BalanceDetail("BTC", None, None, None, None, None, None, None, None, uTime=0)
    assert parse.balance(row) == Balance(
        totalEq=D(100), details={"USDT": usdt, "BTC": btc}, upl=D(1), imr=D(2), mmr=D(3), mgnRatio=D(4),
        uTime=1800,
    )  # fmt: skip
    assert parse.balance({}) == Balance(totalEq=None)
    for bad in ({"details": [{"ccy": ""}]}, {"details": ["x"]}, {"details": [{"ccy": "A", "eq": 1.5}]}):
        with pytest.raises(ParseError):
            parse.balance(bad)
    with pytest.raises(ParseError, match=r"^balance: "):
        parse.balance({"uTime": "soon"})


def test_account_config_reads_every_field() -> None:
    row = {"uid": "u1", "acctLv": "2", "posMode": "long_short_mode", "perm": "read_only,trade", "label": "l",
           "autoLoan": "true", "ip": "1.2.3.4"}  # fmt: skip
    assert parse.account_config(row) == AccountConfig(
        uid="u1", acctLv="2", posMode=PosMode.LONG_SHORT, perm="read_only,trade", label="l", autoLoan=True,
        ip="1.2.3.4",
    )  # fmt: skip
    assert parse.account_config({"posMode": "net_mode"}) == AccountConfig("", "", PosMode.NET)
    with pytest.raises(ParseError, match=r"^account config: "):
        parse.account_config({})


def test_trade_fee_reads_every_field() -> None:
    row = {"instType": "SWAP", "level": "Lv1", "maker": "-0.0002", "taker": "-0.0005", "makerU": "-0.0001",
           "takerU": "-0.0004", "makerUSDC": "-0.00015", "takerUSDC": "-0.00045", "ts": "1700"}  # fmt: skip
    assert parse.trade_fee(row) == TradeFee(
        instType="SWAP", level="Lv1", maker=D("-0.0002"), taker=D("-0.0005"), makerU=D("-0.0001"),
        takerU=D("-0.0004"), makerUSDC=D("-0.00015"), takerUSDC=D("-0.00045"), ts=1700,
    )  # fmt: skip
    assert parse.trade_fee({"instType": "SWAP"}) == TradeFee("SWAP", "", None, None)
    with pytest.raises(ParseError, match=r"^maker: "):
        parse.trade_fee({"instType": "SWAP", "maker": 0.1})
    with pytest.raises(ParseError, match=r"^trade-fee: "):
        parse.trade_fee({"instType": "SWAP", "ts": "soon"})
    with pytest.raises(ParseError):
        parse.trade_fee({})


def test_price_limit_reads_the_band_and_refuses_an_inconsistent_one() -> None:
    row = {"instId": "BTC-USDT-SWAP", "buyLmt": "105", "sellLmt": "95", "enabled": "true", "ts": "1700"}
    assert parse.price_limit(row) == PriceLimit("BTC-USDT-SWAP", D(105), D(95), True, ts=1700)
    assert parse.price_limit(dict(row, enabled="false", sellLmt="")) == PriceLimit(
        "BTC-USDT-SWAP", D(105), None, False, ts=1700
    )
    older = {"instId": "X", "buyLmt": "105", "sellLmt": "105"}  # no `enabled`: both limits = a band
    assert parse.price_limit(older) == PriceLimit("X", D(105), D(105), True)
    assert parse.price_limit({"instId": "X", "buyLmt": "105"}).enabled is False
    for bad in ({"sellLmt": "106"}, {"buyLmt": ""}, {"sellLmt": ""}, {"instId": ""}, {"enabled": "yes"}):
        with pytest.raises(ParseError):
            parse.price_limit(dict(row, **bad))
    with pytest.raises(ParseError, match=r"^price-limit: "):
        parse.price_limit(dict(row, ts="soon"))


def test_maintenance_reads_every_field_and_zero_times_as_absent() -> None:
    row = {"title": "t", "state": "scheduled", "begin": "1000", "end": "2000", "serviceType": "5", "env": "1",
           "system": "unified", "maintType": "1", "preOpenBegin": "1900", "href": "h"}  # fmt: skip
    assert parse.maintenance(row) == Maintenance(
        title="t", state="scheduled", begin=1000, end=2000, serviceType="5", env="1", system="unified",
        maintType="1", preOpenBegin=1900, href="h",
    )  # fmt: skip
    assert parse.maintenance({"state": "ongoing", "end": "", "preOpenBegin": "0"}) == Maintenance(
        title="", state="ongoing", begin=0, end=None, serviceType="", preOpenBegin=None
    )
    with pytest.raises(ParseError, match=r"^system status: "):
        parse.maintenance({"state": "ongoing", "begin": "soon"})
    with pytest.raises(ParseError):
        parse.maintenance({})


def test_bill_reads_every_field() -> None:
    row = {"billId": "b1", "type": "2", "subType": "1", "instId": "BTC-USDT-SWAP", "ccy": "USDT",
           "balChg": "-1.5", "pnl": "2.5", "fee": "-0.1", "sz": "3", "px": "100.5", "mgnMode": "cross",
           "ordId": "o1", "tradeId": "t1", "ts": "1700"}  # fmt: skip
    assert parse.bill(row) == Bill(
        billId="b1", type="2", subType="1", instId="BTC-USDT-SWAP", ccy="USDT", balChg=D("-1.5"),
        pnl=D("2.5"), fee=D("-0.1"), sz=D(3), px=D("100.5"), mgnMode="cross", ordId="o1", tradeId="t1",
        ts=1700,
    )  # fmt: skip
    assert parse.bill({"billId": "b2", "type": "8"}) == Bill(
        "b2", "8", "", "", "", None, None, None, None, None
    )
    for bad in ({"billId": ""}, {"type": None}, {"balChg": 1.5}):
        with pytest.raises(ParseError):
            parse.bill(dict(row, **bad))
    with pytest.raises(ParseError, match=r"^bill: "):
        parse.bill(dict(row, ts="soon"))


def test_small_replies_read_every_field() -> None:
    assert parse.leverage(
        {"instId": "X", "lever": "5", "mgnMode": "cross", "posSide": "short"}
    ) == LeverageInfo("X", D(5), TdMode.CROSS, PosSide.SHORT)
    assert parse.leverage({"lever": "5", "mgnMode": "cross"}) == LeverageInfo("", D(5), TdMode.CROSS)
    with pytest.raises(ParseError, match=r"^leverage: "):
        parse.leverage({"lever": "5", "mgnMode": "up"})
    row = {"instId": "X", "posSide": "long", "clOrdId": "c1", "tag": "t"}
    assert parse.close_position_ack(row) == ClosePositionAck("X", PosSide.LONG, "c1", "t")
    assert parse.close_position_ack({"instId": "X"}) == ClosePositionAck("X", PosSide.NET)
    with pytest.raises(ParseError):
        parse.close_position_ack({"instId": "X", "posSide": "up"})
    assert parse.cancel_all_after({"triggerTime": "5", "ts": "6", "tag": "t"}) == CancelAllAfter(5, 6, "t")
    assert parse.cancel_all_after({}) == CancelAllAfter(0, 0)
    with pytest.raises(ParseError):
        parse.cancel_all_after({"ts": "soon"})
    ack = parse.order_ack_plain({"clOrdId": "c1", "ordId": "o1", "ts": "7", "reqId": "r1"})
    assert ack == OrderAck("c1", "o1", 7, "r1") and parse.order_ack_plain({}) == OrderAck("", "", 0, "")
    with pytest.raises(ParseError):
        parse.order_ack_plain({"ts": "soon"})


def test_ticker_and_trade_read_every_field() -> None:
    row = {"instId": "X", "last": "1", "bidPx": "2", "bidSz": "3", "askPx": "4", "askSz": "5", "ts": "6"}
    assert parse.ticker(row) == Ticker("X", D(1), D(2), D(3), D(4), D(5), 6)
    assert parse.ticker({"instId": "X", "ts": "6"}) == Ticker("X", None, None, None, None, None, 6)
    for bad in ({"ts": "x"}, {"instId": ""}, {"last": 1.5}, {"askSz": "NaN"}):
        with pytest.raises(ParseError):
            parse.ticker(dict(row, **bad))
    tr = {"instId": "X", "tradeId": 12, "px": "100.5", "sz": "2", "side": "sell", "ts": "7"}
    assert parse.trade(tr) == Trade("X", "12", D("100.5"), D(2), "sell", 7)
    for bad in ({"side": "up"}, {"px": ""}, {"sz": 2}, {"ts": "x"}):
        with pytest.raises(ParseError):
            parse.trade(dict(tr, **bad))


def test_order_ack_and_rejection_carry_the_request() -> None:
    req = OrderRequest(
        "c1", "BTC-USDT-SWAP", Side.SELL, OrdType.LIMIT, D(2), D(100), posSide=PosSide.SHORT, reduceOnly=True
    )
    common: dict[str, Any] = dict(
        clOrdId="c1", instId="BTC-USDT-SWAP", side=Side.SELL, posSide=PosSide.SHORT, sz=D(2), px=D(100),
        ordType=OrdType.LIMIT, reduceOnly=True,
    )  # fmt: skip
    ack = parse.order_ack({"clOrdId": "c1", "ordId": "o1", "sCode": "0", "sMsg": "ok", "ts": "7"}, req)
    assert ack == OrderUpdate(
        state=OrderState.LIVE, ordId="o1", sCode="0", sMsg="ok", uTime=7, source="rest_ack", **common
    )
    bare = parse.order_ack({}, req, source="ws")
    assert bare == OrderUpdate(state=OrderState.LIVE, uTime=0, source="ws", **common)
    with pytest.raises(ParseError):
        parse.order_ack({"ts": "soon"}, req)
    rej = parse.order_rejected(req, "51008", "insufficient margin")
    assert rej == OrderUpdate(
        state=OrderState.REJECTED, sCode="51008", sMsg="insufficient margin", source="rest_ack", **common
    )
    assert parse.order_rejected(req, "", "", source="ws") == OrderUpdate(
        state=OrderState.REJECTED, source="ws", **common
    )


def test_algo_order_reads_every_field_and_defaults_the_absent_ones() -> None:
    row = {
        "algoClOrdId": "sla1", "instId": "BTC-USDT-SWAP", "side": "sell", "sz": "3", "slTriggerPx": "90",
        "slTriggerPxType": "mark", "triggerPx": "70", "triggerPxType": "index", "state": "live",
        "algoId": "a1", "posSide": "long", "tdMode": "isolated", "reduceOnly": "true", "uTime": "1700",
    }  # fmt: skip
    assert parse.algo_order(row) == AlgoOrder(
        algoClOrdId="sla1", instId="BTC-USDT-SWAP", side=Side.SELL, sz=D(3), slTriggerPx=D(90),
        state=AlgoState.LIVE, algoId="a1", posSide=PosSide.LONG, tdMode=TdMode.ISOLATED,
        slTriggerPxType="mark", reduceOnly=True, uTime=1700,
    )  # fmt: skip
    trigger = dict(row, slTriggerPx="", slTriggerPxType="")  # a trigger order: triggerPx and its type
    assert (parse.algo_order(trigger).slTriggerPx, parse.algo_order(trigger).slTriggerPxType) == (
        D(70),
        "index",
    )
    bare = {"instId": "X", "side": "buy", "sz": "1", "slTriggerPx": "5", "state": "effective"}
    assert parse.algo_order(bare) == AlgoOrder(
        algoClOrdId="", instId="X", side=Side.BUY, sz=D(1), slTriggerPx=D(5), state=AlgoState.EFFECTIVE,
        algoId=None, posSide=PosSide.NET, tdMode=TdMode.CROSS, slTriggerPxType="last", reduceOnly=False,
        uTime=0,
    )  # fmt: skip
    aliases = {
        "order_placed": AlgoState.EFFECTIVE,
        "filled": AlgoState.EFFECTIVE,
        "failed": AlgoState.ORDER_FAILED,
    }
    for okx_state, state in aliases.items():
        assert parse.algo_order(dict(bare, state=okx_state)).state is state
    whole = parse.algo_order(dict(bare, sz="7", closeFraction="1"))  # closeFraction wins: sz is ignored
    assert (whole.sz, whole.closeFraction) == (None, D(1))
    for bad in (
        {"state": ""},
        {"state": "up"},
        {"instId": ""},
        {"side": "up"},
        {"tdMode": "up"},
        {"uTime": "x"},
    ):
        with pytest.raises(ParseError):
            parse.algo_order(dict(bare, **bad))
    with pytest.raises(ParseError, match=r"^algo order: "):
        parse.algo_order(dict(bare, uTime="soon"))


def ws_order(**changes: Any) -> dict[str, Any]:
    return dict(load("nautilus_ws_orders.json")["data"][0], **changes)  # filled 0.03 of 0.03


def test_order_update_reads_odd_but_valid_rows_as_the_plain_reading_would() -> None:
    row = ws_order()
    assert parse.order_update(OrderedDict(row)) == parse.order_update(row)  # any mapping of the decoder
    typed = parse.order_update(ws_order(instId=123, ordId=456, feeCcy=789))
    assert (typed.instId, typed.ordId, typed.feeCcy) == ("123", "456", "789")  # ids are strings
    zero = parse.order_update(ws_order(state="live", accFillSz="0", avgPx="100", fillSz="0", fillPx="100"))
    assert (zero.accFillSz, zero.avgPx, zero.fillSz, zero.fillPx) == (0, None, 0, None)  # no fill: no price
    zero2 = parse.order_update(
        ws_order(state="live", accFillSz="0.00", avgPx="100", fillSz="0.0", fillPx="99")
    )
    assert (zero2.accFillSz, zero2.avgPx, zero2.fillSz, zero2.fillPx, zero2.tradeId) == (
        0,
        None,
        0,
        None,
        None,
    )
    assert parse.order_update(ws_order(ordType=["limit"])).ordType is None  # not a type OKX names
    assert parse.order_update(ws_order(reduceOnly=True)).reduceOnly is True  # JSON booleans as well
    assert parse.order_update(ws_order(reduceOnly=False)).reduceOnly is False
    with pytest.raises(ParseError):
        parse.order_update(ws_order(sz=0.03))  # a JSON number would lose precision: refused
    rejected = parse.order_update(ws_order(state="canceled", sCode="51008", sMsg="insufficient margin"))
    assert (rejected.sCode, rejected.sMsg) == ("51008", "insufficient margin")
    assert (parse.order_update(row).sCode, parse.order_update(row).sMsg) == (None, None)
    empty = parse.order_update(ws_order(sCode="", sMsg=""))
    assert (empty.sCode, empty.sMsg) == (None, None)


def test_an_unknown_state_is_read_from_sizes_only_when_it_is_a_name_and_the_set_of_logged_ones_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parse, "_UNKNOWN_STATES", set())
    with pytest.raises(ParseError):
        parse.order_update(ws_order(state=""))  # no state is not an unknown state
    monkeypatch.setattr(parse, "_UNKNOWN_STATES_MAX", 1)
    assert parse.order_update(ws_order(state="new_a")).state is OrderState.FILLED
    assert parse.order_update(ws_order(state="new_b")).state is OrderState.FILLED
    assert {"new_a"} == parse._UNKNOWN_STATES  # full: the next ones are read, not remembered
    with pytest.raises(ParseError):
        parse.order_update(ws_order(state=5))  # not a name: refused even when nothing more is logged


def test_empty_strings_are_absent_in_acks_configs_positions_and_levels_without_a_count() -> None:
    req = OrderRequest("c1", "BTC-USDT-SWAP", Side.BUY, OrdType.MARKET, D(1))
    ack = parse.order_ack({"clOrdId": "", "ordId": "", "sCode": "", "sMsg": ""}, req)
    assert (ack.clOrdId, ack.ordId, ack.sCode, ack.sMsg) == ("c1", None, None, None)
    assert parse.account_config({"posMode": "net_mode", "autoLoan": ""}).autoLoan is False
    assert parse.position({"instId": "X", "pos": "1", "posSide": "", "mgnMode": ""}).posSide is PosSide.NET
    top = parse.book_top("BTC-USDT-SWAP", {"bids": [["100", "2"]], "asks": [["101", "3", "0"]], "ts": "5"})
    assert top == BookTop("BTC-USDT-SWAP", (Level(D(100), D(2), 0),), (Level(D(101), D(3), 0),), 5)
