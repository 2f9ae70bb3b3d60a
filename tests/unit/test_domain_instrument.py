"""Property tests: Decimal rounding to tick/lot on real instrument shapes, and contracts <-> coin."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from athena.domain import Instrument
from athena.domain.money import is_multiple

# (ctVal, lotSz, tickSz, minSz) as OKX lists them for BTC, ETH, DOGE-like and 1000x-multiplier swaps
SHAPES = [
    ("0.01", "0.01", "0.1", "0.01"),
    ("0.1", "0.01", "0.01", "0.01"),
    ("1000", "1", "0.00001", "1"),
    ("10", "0.1", "0.0001", "0.1"),
]
instruments = st.sampled_from(
    [
        Instrument(
            f"X{i}-USDT-SWAP", ctVal=Decimal(c), lotSz=Decimal(lot), tickSz=Decimal(t), minSz=Decimal(m)
        )
        for i, (c, lot, t, m) in enumerate(SHAPES)
    ]
)
amounts = st.decimals(
    min_value=Decimal("0"), max_value=Decimal("1e7"), places=9, allow_nan=False, allow_infinity=False
)


@given(inst=instruments, lots=st.integers(0, 10**7))
def test_contracts_to_coin_and_back_is_exact_on_lots(inst: Instrument, lots: int) -> None:
    sz = inst.lotSz * lots
    coin = inst.contracts_to_coin(sz)
    assert coin == sz * inst.ctVal
    assert inst.coin_to_contracts(coin) == sz  # no drift through the round trip


@given(inst=instruments, coin=amounts)
def test_coin_to_contracts_never_exceeds_the_coin_and_lands_on_a_lot(inst: Instrument, coin: Decimal) -> None:
    sz = inst.coin_to_contracts(coin)
    assert is_multiple(sz, inst.lotSz)
    assert inst.contracts_to_coin(sz) <= coin < inst.contracts_to_coin(sz + inst.lotSz)


@given(inst=instruments, px=amounts.filter(lambda x: x > 0))
def test_price_rounding_lands_on_ticks_around_the_price(inst: Instrument, px: Decimal) -> None:
    lo, hi, mid = inst.px_down(px), inst.px_up(px), inst.round_px(px)
    for p in (lo, hi, mid):
        assert is_multiple(p, inst.tickSz)
    assert lo <= px <= hi and hi - lo in (0, inst.tickSz) and mid in (lo, hi)
    assert abs(mid - px) <= inst.tickSz / 2


@given(inst=instruments, sz=amounts)
def test_size_rounding_is_down_to_lot(inst: Instrument, sz: Decimal) -> None:
    r = inst.round_sz(sz)
    assert is_multiple(r, inst.lotSz) and r <= sz < r + inst.lotSz


@given(inst=instruments, lots=st.integers(1, 10**6), entry=st.integers(1, 10**6), exit_=st.integers(1, 10**6))
def test_notional_and_pnl_are_exact_decimals(inst: Instrument, lots: int, entry: int, exit_: int) -> None:
    sz = inst.lotSz * lots
    e, x = inst.tickSz * entry, inst.tickSz * exit_
    assert inst.notional(sz, e) == sz * inst.ctVal * e
    long, short = inst.pnl(sz, e, x, 1), inst.pnl(sz, e, x, -1)
    assert long == -short == inst.notional(sz, x) - inst.notional(sz, e)
