"""Pure ledger math of CapitalCommander: position, average price and closing PnL."""

from __future__ import annotations

from decimal import Decimal as D

from athena.oms.capital import apply_to_position

CPC = D("0.01")  # BTC-USDT-SWAP: 0.01 BTC per contract


def test_open_and_add_averages_price() -> None:
    qty, avg, pnl = apply_to_position(D(0), None, D(10), D(50000), CPC)
    assert (qty, avg, pnl) == (D(10), D(50000), D(0))
    qty, avg, pnl = apply_to_position(qty, avg, D(10), D(51000), CPC)
    assert (qty, avg, pnl) == (D(20), D(50500), D(0))


def test_partial_close_long_keeps_average() -> None:
    qty, avg, pnl = apply_to_position(D(20), D(50500), D(-5), D(52000), CPC)
    assert (qty, avg, pnl) == (D(15), D(50500), D("75.00000000"))


def test_close_to_flat_clears_average() -> None:
    qty, avg, pnl = apply_to_position(D(15), D(50500), D(-15), D(50000), CPC)
    assert qty == 0 and avg is None and pnl == D(-75)


def test_short_partial_close_and_flip() -> None:
    cpc = D("0.1")  # ETH-USDT-SWAP
    qty, avg, pnl = apply_to_position(D(-4), D(3000), D(1), D(2900), cpc)
    assert (qty, avg, pnl) == (D(-3), D(3000), D(10))
    qty, avg, pnl = apply_to_position(qty, avg, D(5), D(3100), cpc)
    assert (qty, avg, pnl) == (D(2), D(3100), D(-30))


def test_add_to_short_averages() -> None:
    qty, avg, pnl = apply_to_position(D(-1), D(3000), D(-3), D(3100), D("0.1"))
    assert qty == D(-4) and avg == D(3075) and pnl == 0


def test_closing_a_fraction_of_a_contract_realises_its_pnl() -> None:
    """Sizes below one contract (lotSz 0.01) still carry their sign: closing 0.5 long books its PnL."""
    qty, avg, pnl = apply_to_position(D("0.5"), D(50000), D("-0.5"), D(51000), CPC)
    assert qty == 0 and avg is None and pnl == D(5)
    qty, avg, pnl = apply_to_position(D("-0.5"), D(50000), D("0.25"), D(49000), CPC)
    assert (qty, avg, pnl) == (D("-0.25"), D(50000), D("2.5"))


def test_a_position_without_an_average_restarts_it_at_the_fill_price() -> None:
    """An unknown average books no PnL: the position carries on (or turns) at the fill's price."""
    assert apply_to_position(D(5), None, D(5), D(100), CPC) == (D(10), D(100), D(0))
    assert apply_to_position(D(5), None, D(-2), D(100), CPC) == (D(3), D(100), D(0))
