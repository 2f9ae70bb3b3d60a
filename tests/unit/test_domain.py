"""Pure domain: Decimal parsing and rounding, instruments, order requests, states, books."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from athena.domain import (
    BadNumber,
    BookTop,
    D,
    Fill,
    Instrument,
    InstrumentError,
    Level,
    Order,
    OrderIntentError,
    OrderRequest,
    OrderState,
    OrdType,
    Position,
    PosSide,
    Side,
    TdMode,
    fmt,
    opt_D,
    round_to_step,
    valid_cl_ord_id,
)
from athena.domain.enums import AlgoState
from athena.domain.money import ceil_to_step, floor_to_step, is_multiple, truncate_to_step
from tests.okx.samples import load

BTC = Instrument(instId="BTC-USDT-SWAP", ctVal=D("0.01"), lotSz=D("0.01"), tickSz=D("0.1"), minSz=D("0.01"))


# -- D / opt_D --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        1.5,
        0.1,
        float("nan"),
        "nan",
        "NaN",
        "inf",
        "-Infinity",
        "sNaN",
        "abc",
        "",
        " ",
        True,
        None,
        [],
        Decimal("NaN"),
        Decimal("Infinity"),
    ],
)
def test_D_refuses_floats_and_non_finite(bad: object) -> None:
    with pytest.raises(BadNumber):
        D(bad)  # type: ignore[arg-type]


def test_D_parses_strings_exactly() -> None:
    assert D("0.1") + D("0.2") == D("0.3")
    assert str(D("50000.10")) == "50000.10"  # exponent kept
    assert D(7) == Decimal(7)
    assert D(Decimal("1.5")) == Decimal("1.5")
    assert D("-1e-8") == Decimal("-0.00000001")


def test_opt_D_absent_is_none_never_zero() -> None:
    assert opt_D("") is None
    assert opt_D(None) is None
    assert opt_D("0") == 0 and opt_D("0") is not None
    with pytest.raises(BadNumber):
        opt_D(1.0)


# -- rounding -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "step", "half_even", "floor", "ceil", "trunc"),
    [
        ("50000.15", "0.1", "50000.2", "50000.1", "50000.2", "50000.1"),
        ("50000.25", "0.1", "50000.2", "50000.2", "50000.3", "50000.2"),
        ("50000", "0.1", "50000.0", "50000.0", "50000.0", "50000.0"),
        ("-1.05", "0.1", "-1.0", "-1.1", "-1.0", "-1.0"),
        ("2.579", "0.01", "2.58", "2.57", "2.58", "2.57"),
        ("17", "5", "15", "15", "20", "15"),
        ("1E+5", "0.01", "100000.00", "100000.00", "100000.00", "100000.00"),
    ],
)
def test_round_to_step(value: str, step: str, half_even: str, floor: str, ceil: str, trunc: str) -> None:
    v, s = D(value), D(step)
    for fn, want in (
        (round_to_step, half_even),
        (floor_to_step, floor),
        (ceil_to_step, ceil),
        (truncate_to_step, trunc),
    ):
        got = fn(v, s)
        assert got == D(want), fn.__name__
        assert str(got) == want, f"{fn.__name__} keeps the step's exponent"


def test_round_to_step_refuses_bad_step() -> None:
    for step in ("0", "-0.1"):
        with pytest.raises(ValueError):
            round_to_step(D("1"), D(step))


@given(
    units=st.integers(-(10**9), 10**9),
    frac=st.integers(0, 999),
    step=st.sampled_from(["0.1", "0.01", "0.5", "1", "10"]),
)
def test_rounding_lands_on_step_and_brackets(units: int, frac: int, step: str) -> None:
    v = D(units) + D(frac) / 1000
    s = D(step)
    lo, hi, mid = floor_to_step(v, s), ceil_to_step(v, s), round_to_step(v, s, ROUND_HALF_EVEN)
    assert all(is_multiple(x, s) for x in (lo, hi, mid))
    assert lo <= v <= hi and hi - lo in (0, s)
    assert mid in (lo, hi)
    assert abs(truncate_to_step(v, s)) <= abs(v)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("1E+2", "100"),
        ("100.50", "100.5"),
        ("1E-7", "0.0000001"),
        ("-0", "0"),
        ("-0.00", "0"),
        ("0E-8", "0"),
        ("50000.0", "50000"),
        ("-2.50", "-2.5"),
        ("123456789.123456789", "123456789.123456789"),
    ],
)
def test_fmt_never_uses_exponent(value: str, wire: str) -> None:
    out = fmt(D(value))
    assert out == wire
    assert "E" not in out and "e" not in out
    assert D(out) == D(value)


# -- instruments --------------------------------------------------------------------------------
def test_instrument_from_okx_sample() -> None:
    rows = {r["instId"]: r for r in load("nautilus_http_get_instruments_swap.json")["data"]}
    btc = Instrument.from_okx(rows["BTC-USDT-SWAP"])
    assert (btc.ctVal, btc.lotSz, btc.tickSz, btc.minSz, btc.ctType, btc.settleCcy) == (
        D("0.01"),
        D("0.01"),
        D("0.1"),
        D("0.01"),
        "linear",
        "USDT",
    )
    assert btc.maxMktSz == D("12000") and btc.lever == D("100")
    eth = Instrument.from_okx(rows["ETH-USDT-SWAP"])
    assert eth.ctVal == D("0.1") and eth.tickSz == D("0.01")
    inverse = Instrument.from_okx(rows["BTC-USD-SWAP"])
    assert inverse.ctType == "inverse" and inverse.ctVal == D("100")
    for inst in (btc, eth, inverse):
        assert all(
            isinstance(getattr(inst, f), Decimal) for f in ("ctVal", "lotSz", "tickSz", "minSz", "ctMult")
        )


def test_instrument_from_okx_missing_field_names_it() -> None:
    row: dict[str, object] = {"instId": "X-USDT-SWAP", "ctVal": "1", "lotSz": "1", "tickSz": ""}
    with pytest.raises(InstrumentError, match="tickSz"):
        Instrument.from_okx(row)


def test_contract_math() -> None:
    assert BTC.contracts_to_coin(D("2.5")) == D("0.025")
    assert BTC.coin_to_contracts(D("0.02579")) == D("2.57")  # rounded down to lotSz
    assert BTC.coin_to_contracts(D("0.0000999")) == D("0.00")
    assert BTC.notional(D("3"), D("50000")) == D("1500")
    assert BTC.pnl(D("2"), D("50000"), D("50100"), Side.BUY.sign) == D("2")
    assert BTC.pnl(D("2"), D("50000"), D("50100"), Side.SELL.sign) == D("-2")
    assert BTC.round_px(D("50000.15")) == D("50000.2")
    assert (BTC.px_down(D("50000.19")), BTC.px_up(D("50000.11"))) == (D("50000.1"), D("50000.2"))
    assert BTC.round_sz(D("1.239")) == D("1.23")


def test_instrument_checks() -> None:
    BTC.check_px(D("50000.1"))
    BTC.check_sz(D("0.01"))
    for px in ("50000.15", "0", "-0.1"):
        with pytest.raises(InstrumentError):
            BTC.check_px(D(px))
    for sz in ("0.001", "0.015"):
        with pytest.raises(InstrumentError):
            BTC.check_sz(D(sz))


# -- orders -----------------------------------------------------------------------------------
def _req(**kw: object) -> OrderRequest:
    base: dict[str, object] = {
        "clOrdId": "s1abc",
        "instId": "BTC-USDT-SWAP",
        "side": Side.BUY,
        "ordType": OrdType.LIMIT,
        "sz": D("1"),
        "px": D("50000.1"),
    }
    base.update(kw)
    return OrderRequest(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("cl", ["", "a-b", "a_b", "x" * 33, "é1", "a b"])
def test_cl_ord_id_rules(cl: str) -> None:
    assert not valid_cl_ord_id(cl)
    with pytest.raises(OrderIntentError):
        _req(clOrdId=cl)


def test_order_request_validation() -> None:
    assert valid_cl_ord_id("A" * 32)
    with pytest.raises(OrderIntentError, match="sz"):
        _req(sz=D("0"))
    with pytest.raises(OrderIntentError, match="px"):
        _req(px=None)
    with pytest.raises(OrderIntentError, match="px"):
        _req(ordType=OrdType.MARKET)  # a market order must not carry px
    market = _req(ordType=OrdType.MARKET, px=None)
    assert market.px is None


def test_order_request_to_okx() -> None:
    body = _req(
        sz=D("1.50"), px=D("5E+4"), posSide=PosSide.LONG, reduceOnly=True, tag="t", tdMode=TdMode.ISOLATED
    ).to_okx()
    assert body == {
        "instId": "BTC-USDT-SWAP",
        "tdMode": "isolated",
        "side": "buy",
        "ordType": "limit",
        "sz": "1.5",
        "px": "50000",
        "clOrdId": "s1abc",
        "posSide": "long",
        "reduceOnly": True,
        "tag": "t",
    }
    market = _req(ordType=OrdType.MARKET, px=None).to_okx()
    assert "px" not in market and "posSide" not in market and "reduceOnly" not in market


def test_order_fill_position_helpers() -> None:
    order = Order(req=_req(sz=D("3")), accFillSz=D("1.25"))
    assert order.remaining == D("1.75") and order.clOrdId == "s1abc"
    assert order.with_state(OrderState.LIVE).state is OrderState.LIVE and order.state is OrderState.CREATED
    fill = Fill(
        clOrdId="c1",
        instId="X",
        side=Side.SELL,
        posSide=PosSide.NET,
        fillSz=D("2"),
        fillPx=D("1"),
        accFillSz=D("2.0"),
    )
    assert fill.fill_key == "c1:2.0" and fill.signed_sz == D("-2")
    short = Position(instId="X", posSide=PosSide.SHORT, pos=D("3"), avgPx=None)
    assert short.signed == D("-3") and not short.is_flat and short.avgPx is None
    assert Position(instId="X", posSide=PosSide.NET, pos=D("-2"), avgPx=D("1")).signed == D("-2")
    assert Position(instId="X", posSide=PosSide.NET, pos=D("0"), avgPx=None).is_flat
    assert Side.BUY.opposite is Side.SELL and Side.SELL.sign == -1


# -- states -------------------------------------------------------------------------------------
def test_order_state_ranks() -> None:
    S = OrderState
    chain = [S.CREATED, S.SENT, S.AMBIGUOUS, S.LIVE, S.PARTIALLY_FILLED, S.FILLED]
    assert [s.rank for s in chain] == sorted(s.rank for s in chain)
    assert len({s.rank for s in chain}) == len(chain)
    assert S.FILLED.rank == S.CANCELED.rank == S.REJECTED.rank  # terminal: the first one wins
    assert all(s.is_terminal for s in (S.FILLED, S.CANCELED, S.REJECTED))
    assert all(s.is_working for s in chain[:-1])
    assert S.from_okx("mmp_canceled") is S.CANCELED and S.from_okx("partially_filled") is S.PARTIALLY_FILLED
    with pytest.raises(ValueError):
        S.from_okx("bogus")
    assert AlgoState.PARTIALLY_EFFECTIVE.is_working and not AlgoState.EFFECTIVE.is_working


# -- books --------------------------------------------------------------------------------------
def test_book_top_helpers() -> None:
    book = BookTop(
        "X", bids=(Level(D("99.5"), D("2")), Level(D("99"), D("1"))), asks=(Level(D("100.5"), D("3")),), ts=1
    )
    assert book.best_bid == Level(D("99.5"), D("2")) and book.best_ask == Level(D("100.5"), D("3"))
    assert book.mid == D("100") and book.spread == D("1")
    assert not book.is_crossed
    assert BookTop("X", bids=(Level(D("101"), D("1")),), asks=(Level(D("100"), D("1")),), ts=1).is_crossed


def test_book_top_empty_side_is_none_not_zero() -> None:
    one_sided = BookTop("X", bids=(Level(D("99"), D("1")),), asks=(), ts=1)
    assert one_sided.best_ask is None and one_sided.mid is None and one_sided.spread is None
    assert not one_sided.is_crossed
    empty = BookTop("X", bids=(), asks=(), ts=1)
    assert empty.best_bid is None and empty.mid is None
