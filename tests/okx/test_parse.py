"""Every relevant real payload in tests/data/okx_samples goes through the parsers."""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from athena.domain import AlgoState, OrderRequest, OrderState, OrdType, PosMode, PosSide, Side, TdMode
from athena.okx import parse
from athena.okx.errors import ParseError
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
