"""The report's figures against values worked out by hand, edge cases included (no trades, all
winners, breakeven, one day, a drawdown never recovered, a run too short for a return)."""

from __future__ import annotations

from decimal import Decimal as D

from athena.domain import OrderRequest, OrdType, Side
from athena.report.figures import (
    bar_returns,
    drawdown,
    figures,
    sharpe,
    sortino,
    tables,
    time_in_trades_ms,
    trade_stats,
)
from athena.report.model import ReportData, Trade, exit_reason

DAY0 = 1_796_083_200_000  # 2026-12-01T00:00:00Z
MIN = 60_000
PER_YEAR_MINUTES = D(525_600)


def trade(
    gross: str,
    fees: str,
    *,
    open_ts: int = DAY0,
    close_ts: int = DAY0 + MIN,
    strategy: str = "s1",
    instId: str = "BTC-USDT-SWAP",
    reason: str = "take_profit",
) -> Trade:
    return Trade(
        strategy=strategy,
        instId=instId,
        side="long",
        open_ts=open_ts,
        close_ts=close_ts,
        qty=D(1),
        entry_px=D(100),
        exit_px=D(101),
        gross=D(gross),
        fees=D(fees),
        exit_clOrdId="c1",
        exit_reason=reason,
    )


def data(trades: list[Trade], curve: list[tuple[int, D]], **kw: object) -> ReportData:
    return ReportData(
        kind="backtest",
        title="t",
        meta={},
        initial_equity=curve[0][1],
        final_equity=curve[-1][1],
        curve=curve,
        trades=trades,
        start_ts=curve[0][0],
        end_ts=curve[-1][0],
        **kw,
    )  # type: ignore[arg-type]


def test_trade_stats_by_hand() -> None:
    # nets: +10, -5, +3, and a breakeven trade that is neither a win nor a loss
    s = trade_stats([trade("12", "-2"), trade("-4", "-1"), trade("4", "-1"), trade("1", "-1")])
    assert (s["trades"], s["wins"], s["losses"]) == (4, 2, 1)
    assert s["win_rate"] == D("0.5")
    assert s["gross_pnl"] == D(13) and s["fees"] == D(-5) and s["net_pnl"] == D(8)
    assert s["profit_factor"] == D("2.6") and s["profit_factor_note"] is None  # 13 / 5
    assert s["expectancy"] == D(2)  # 8 / 4
    assert s["avg_win"] == D("6.5") and s["avg_loss"] == D(-5)
    assert s["largest_win"] == D(10) and s["largest_loss"] == D(-5)
    assert s["avg_duration_s"] == D(60)


def test_no_trades_gives_explicit_absences_not_zeros() -> None:
    s = trade_stats([])
    assert s["trades"] == 0 and s["net_pnl"] == 0
    assert s["win_rate"] is None and s["expectancy"] is None and s["avg_duration_s"] is None
    assert s["profit_factor"] is None and s["profit_factor_note"] == "no trades"
    f = figures(data([], [(DAY0, D(1000)), (DAY0 + 30_000, D(1000))]))
    assert f["trades"] == 0 and f["net_pnl"] == 0 and f["max_drawdown"] == 0
    assert f["sharpe"] is None and f["sortino"] is None and f["calmar"] is None  # 30 s: no minute return
    assert f["time_in_market_pct"] == 0
    assert tables(data([], [(DAY0, D(1000))]))["day"] == []


def test_all_winners_profit_factor_is_infinite_and_says_so() -> None:
    s = trade_stats([trade("3", "-1"), trade("5", "-1")])
    assert s["profit_factor"] is None and s["profit_factor_note"] == "infinite: no losing trade"
    assert s["win_rate"] == 1 and s["avg_loss"] is None and s["largest_loss"] is None


def test_drawdown_depth_and_duration_until_recovered() -> None:
    curve = [(0, D(100)), (1000, D(110)), (2000, D(99)), (3000, D(105)), (4000, D(111)), (5000, D(100))]
    dd = drawdown(curve)
    # 110 -> 99 (11, 10 %), back above 110 at 4000; the later 111 -> 100 is as deep, not deeper
    assert dd["max_drawdown"] == D(11) and dd["max_drawdown_frac"] == D("0.1")
    assert dd["max_drawdown_peak_ts"] == 1000 and dd["max_drawdown_trough_ts"] == 2000
    assert dd["max_drawdown_duration_ms"] == 3000 and dd["max_drawdown_recovered"] is True


def test_drawdown_never_recovered_lasts_until_the_end() -> None:
    dd = drawdown([(0, D(100)), (1000, D(90)), (2500, D(95))])
    assert dd["max_drawdown"] == D(10) and dd["max_drawdown_duration_ms"] == 2500
    assert dd["max_drawdown_recovered"] is False


def test_bar_returns_take_the_last_sample_at_or_before_each_bar_end() -> None:
    curve = [(0, D(100)), (30_000, D(500)), (MIN, D(101)), (2 * MIN - 1, D(7)), (2 * MIN, D("104.03"))]
    assert bar_returns(curve, MIN) == [D("0.01"), D("0.03")]


def test_sharpe_sortino_calmar_by_hand() -> None:
    # returns 1 %, 3 %: mean 2 %, sample sd sqrt(0.0002); x sqrt(525600) minutes a year
    up = [(DAY0, D(100)), (DAY0 + MIN, D(101)), (DAY0 + 2 * MIN, D("104.03"))]
    assert sharpe(bar_returns(up, MIN), PER_YEAR_MINUTES).quantize(D("0.0001")) == D("1025.2804")  # type: ignore[union-attr]
    assert sortino(bar_returns(up, MIN), PER_YEAR_MINUTES) is None  # no losing minute
    f = figures(data([], up))
    assert f["sharpe"] == D("1025.2804") and f["sortino"] is None and f["calmar"] is None  # no drawdown
    assert f["ratio_bar"] == "1 minute" and f["ratio_returns"] == 2 and "525600" in f["annualisation"]
    # returns 2 %, -1 %: mean 0.5 %, downside deviation sqrt(0.0001 / 2); max drawdown 1.02 of 102 = 1 %
    mixed = [(DAY0, D(100)), (DAY0 + MIN, D(102)), (DAY0 + 2 * MIN, D("100.98"))]
    f = figures(data([], mixed))
    assert f["sortino"] == D("512.6402")
    assert f["calmar"] == D(262800)  # 0.005 x 525600 / 0.01
    assert f["max_drawdown"] == D("1.02") and f["max_drawdown_pct"] == D(1)


def test_bar_grows_with_the_run() -> None:
    long = [(DAY0, D(100)), (DAY0 + 3 * 24 * 60 * MIN, D(100))]
    f = figures(data([], long))
    assert f["ratio_bar"] == "1 hour" and f["ratio_returns"] == 72 and "8760" in f["annualisation"]


def test_net_pnl_splits_into_gross_fees_funding_and_open() -> None:
    curve = [(DAY0, D(1000)), (DAY0 + MIN, D("1007.5"))]
    f = figures(data([trade("12", "-2")], curve, gross_pnl=D(12), fees=D(-3), funding=D("-0.5")))
    assert f["net_pnl"] == D("7.5") and f["return_pct"] == D("0.75")
    assert f["unrealized_pnl"] == D(-1)  # 7.5 - 12 + 3 + 0.5: what the open position has lost
    assert f["trade_net_pnl"] == D(10)


def test_time_in_market_is_the_union_of_the_trades() -> None:
    ts = [
        trade("1", "0", open_ts=0, close_ts=10),
        trade("1", "0", open_ts=5, close_ts=20),
        trade("1", "0", open_ts=30, close_ts=40),
    ]
    assert time_in_trades_ms(ts) == 30
    f = figures(data(ts, [(0, D(100)), (60, D(100))]))
    assert f["time_in_market_pct"] == D(50)


def test_tables_per_reason_instrument_strategy_and_one_day() -> None:
    ts = [
        trade("12", "-2", reason="take_profit"),
        trade("-4", "-1", reason="stop_loss", strategy="s2"),
        trade("4", "-1", reason="take_profit", instId="ETH-USDT-SWAP"),
    ]
    t = tables(data(ts, [(DAY0, D(100)), (DAY0 + MIN, D(100))], funding_by_strategy={"s1": D("-0.25")}))
    by_reason = {r["key"]: r for r in t["exit_reason"]}
    assert by_reason["take_profit"]["trades"] == 2 and by_reason["take_profit"]["net_pnl"] == D(13)
    assert by_reason["stop_loss"]["wins"] == 0 and by_reason["stop_loss"]["profit_factor"] == 0  # all lost
    assert [r["key"] for r in t["instrument"]] == ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]
    by_strategy = {r["key"]: r for r in t["strategy"]}
    assert by_strategy["s1"]["funding"] == D("-0.25") and by_strategy["s2"]["funding"] == 0
    assert [(r["key"], r["trades"], r["net_pnl"]) for r in t["day"]] == [("2026-12-01", 3, D(8))]


def test_exit_reason_from_the_closing_order() -> None:
    def req(cl: str, ordType: OrdType, reduce: bool, tag: str = "", px: str | None = "100") -> OrderRequest:
        return OrderRequest(
            clOrdId=cl,
            instId="BTC-USDT-SWAP",
            side=Side.SELL,
            ordType=ordType,
            sz=D(1),
            px=D(px) if px else None,
            reduceOnly=reduce,
            tag=tag,
        )

    assert exit_reason("slabc", None) == "stop_loss"
    assert exit_reason("c2", req("c2", OrdType.MARKET, True, tag="stop", px=None)) == "stop_loss"
    assert exit_reason("c3", req("c3", OrdType.LIMIT, True)) == "take_profit"
    assert exit_reason("c4", req("c4", OrdType.MARKET, True, px=None)) == "market_close"
    assert exit_reason("c5", req("c5", OrdType.MARKET, True, tag="timestop", px=None)) == "timestop"
    assert exit_reason("c6", req("c6", OrdType.POST_ONLY, False)) == "reversal"
    assert exit_reason("x123", None) == "external"
