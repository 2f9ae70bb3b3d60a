"""The liquidation-distance rule (athena.risk.liquidation.assess): distances from the mark to liqPx and to
the stop that fires first, and the account's equity left before liquidation (mgnRatio) against what the
stops would lose."""

from __future__ import annotations

from decimal import Decimal as D

from athena.domain import AlgoOrder, AlgoState, Instrument, Position, PosSide, Side
from athena.risk.liquidation import DEFAULT_STOP_PCT, Finding, assess, first_stop

BTC = "BTC-USDT-SWAP"
INSTS = {BTC: Instrument(BTC, ctVal=D("0.01"), lotSz=D("0.01"), tickSz=D("0.1"), minSz=D("0.01"))}


def pos(sz: str, liq: str | None, mark: str = "100000", side: PosSide = PosSide.NET) -> Position:
    return Position(BTC, side, D(sz), D("100000"), markPx=D(mark), liqPx=D(liq) if liq else None)


def stop(side: Side, px: str, state: AlgoState = AlgoState.LIVE, cl: str = "s") -> AlgoOrder:
    return AlgoOrder(cl, BTC, side, D(1), D(px), state=state)


def test_the_first_stop_to_fire_counts() -> None:
    stops = [
        stop(Side.SELL, "98000", cl="a"),
        stop(Side.SELL, "99000", cl="b"),
        stop(Side.BUY, "101000", cl="c"),
        stop(Side.SELL, "99500", AlgoState.CANCELED, cl="d"),
    ]
    assert first_stop(pos("1", None), stops) == D(99000)  # a long: the highest working sell stop
    assert first_stop(pos("-1", None), stops) == D(101000)  # a short: the lowest buy stop


def test_a_long_with_liquidation_closer_than_three_stops_breaches() -> None:
    [f] = assess([pos("1", "98600")], {BTC: D(100000)}, [stop(Side.SELL, "99500")], INSTS, D(3))
    assert (f.subject, f.liq_distance, f.stop_distance) == (BTC, D(1400), D(500)) and f.breached
    [ok] = assess([pos("1", "98500")], {BTC: D(100000)}, [stop(Side.SELL, "99500")], INSTS, D(3))
    assert not ok.breached  # 1500 = 3 x 500: at the multiple, not below it
    assert "1400 from its liquidation price" in f.sentence()


def test_without_a_stop_the_protective_one_percent_is_assumed_and_the_mark_follows_the_book() -> None:
    [f] = assess([pos("-2", "101500")], {BTC: D(100500)}, [], INSTS, D(3))
    assert (f.liq_distance, f.stop_distance) == (D(1000), D(100500) * DEFAULT_STOP_PCT) and f.breached


def test_no_liq_price_or_flat_gives_no_position_finding() -> None:
    assert assess([pos("1", None), pos("0", "1")], {}, [], INSTS, D(3)) == []


def test_the_account_check_uses_mgn_ratio_and_the_stops_loss() -> None:
    # 2 contracts x 0.01 BTC x 1000 to the stop = 20 USDT at risk; equity 100 with mgnRatio 1.25: 20 to lose
    findings = assess(
        [pos("2", None)],
        {BTC: D(100000)},
        [stop(Side.SELL, "99000")],
        INSTS,
        D(3),
        equity=D(100),
        mgn_ratio=D("1.25"),
    )
    assert findings == [Finding("account", D(20), D(20), D(3))] and findings[0].breached
    assert not assess(
        [pos("2", None)],
        {BTC: D(100000)},
        [stop(Side.SELL, "99000")],
        INSTS,
        D(3),
        equity=D(100),
        mgn_ratio=D(5),
    )[0].breached  # 80 to lose >= 3 x 20


def test_every_position_counts_after_one_that_cannot_be_measured() -> None:
    """A flat row and a row without a mark are skipped, not the end of the list; the stops' loss adds up
    over positions; long/short rows are named with their side; a liqPx of 0 (OKX: none) or a mgnRatio
    of 0 measures nothing; a price under 1 (a PEPE-like coin) is a price."""
    rows = [
        pos("0", "1"),
        Position("ETH-USDT-SWAP", PosSide.NET, D(1), D(3000)),  # flat; no mark
        pos("1", "0.5", mark="0.9", side=PosSide.LONG),
        pos("2", "0"),
    ]
    insts = {BTC: INSTS[BTC]}
    found = assess(rows, {}, [], insts, D(3), equity=D(1000), mgn_ratio=D(2))
    # stops' loss: 1 x 0.01 x 0.009 + 2 x 0.01 x 1000 (the 1% default stop) = 20.00009
    assert found == [
        Finding(f"{BTC} long", D("0.4"), D("0.009"), D(3)),
        Finding("account", D(500), D("20.00009"), D(3)),
    ]
    assert assess(rows, {}, [], insts, D(3), equity=D(1000), mgn_ratio=D(0)) == found[:1]
    assert (
        assess(rows, {}, [], {}, D(3), equity=D(1000), mgn_ratio=D(2)) == found[:1]
    )  # no instrument: no loss known
    small = assess(rows[2:3], {}, [], insts, D(3), equity=D(1000), mgn_ratio=D(2))
    assert small[1] == Finding("account", D(500), D("0.00009"), D(3))  # a loss under 1 USDT is still a loss
    assert assess([pos("-1", None)], {}, [], insts, D(3), equity=D(1000), mgn_ratio=D("0.5")) == [
        Finding("account", D(-1000), D(10), D(3))
    ]  # mgnRatio under 1: already past maintenance


def test_a_short_fires_at_its_lowest_buy_stop_and_sentences_name_the_subject() -> None:
    assert first_stop(
        pos("-1", None), [stop(Side.BUY, "101000", cl="a"), stop(Side.BUY, "100500", cl="b")]
    ) == D(100500)
    acct = Finding("account", D(10), D(20), D(3))
    assert acct.sentence().startswith("the account can lose 10.00 before liquidation")
    assert Finding(BTC, D(10), D(20), D(3)).sentence().startswith(f"{BTC} is 10 from its liquidation price")
