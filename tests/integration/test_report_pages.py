"""The reports a trader opens, in a real headless browser (Debian's chromium, tests/browser.py): a
backtest's, a demo's and one with no trade at all. Each renders its plotly charts offline (no request
leaves file://), with no console error, and shows the figures and breakdown tables."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from athena.backtest.cli import main as backtest_main
from athena.backtest.ledger import Ledger
from athena.domain import Fill, Order, OrderRequest, OrdType, PosSide, Side
from athena.process.demo.report import demo_report_data
from athena.process.demo.state import DemoState
from athena.report.folders import new_run_folder
from athena.report.model import ReportData
from athena.report.render import write_report
from athena.sim.instruments import default_instruments
from tests.browser import BrowserPage, browser_page
from tests.reports import report_folder

BTC = "BTC-USDT-SWAP"
T0 = 1_796_083_200_000  # 2026-12-01T00:00:00Z


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserPage]:
    with browser_page(1400, 900) as b:
        yield b


def open_report(b: BrowserPage, page: Path, charts: int) -> list[str]:
    """Load page; wait until its charts are drawn; the URLs it asked for."""
    b.console_errors.clear()
    b.page_errors.clear()
    asked: list[str] = []

    def on_request(r: Any) -> None:
        asked.append(r.url)

    b.page.on("request", on_request)
    try:
        b.page.goto(page.as_uri())
        b.page.wait_for_function(
            f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}", timeout=20_000
        )
    finally:
        b.page.remove_listener("request", on_request)
    assert b.page.locator(".js-plotly-plot").count() == charts
    assert b.errors() == []
    return asked


def test_a_backtest_report_renders_offline_with_its_charts_and_tables(
    browser: BrowserPage, tmp_path: Path, capsys: Any
) -> None:
    assert (
        backtest_main(["--synthetic", "--seed", "7", "--duration", "180", "--out", str(tmp_path), "--quiet"])
        == 0
    )
    capsys.readouterr()
    folder = report_folder(tmp_path)
    asked = open_report(
        browser, folder / "report.html", charts=3
    )  # equity+drawdown, BTC price, PnL histogram
    assert all(u.startswith(("file:", "data:")) for u in asked), asked  # plotly.js is inlined: no CDN
    page = browser.page
    assert "ScalperV1 on BTC-USDT-SWAP" in page.inner_text("h1")
    risk = page.inner_text("#figures-risk")
    assert "Sharpe" in risk and "max drawdown duration" in risk
    assert "525600 periods a year" in page.inner_text("#annualisation")
    n_trades = len((folder / "trades.csv").read_text().splitlines()) - 1
    assert n_trades > 0 and page.locator("#trades tr").count() == n_trades + 1
    reasons = page.locator("#by-exit-reason tr td:first-child").all_inner_texts()
    assert set(reasons) <= {"take_profit", "market_close", "stop_loss"} and reasons
    for table in ("#by-instrument", "#by-strategy", "#by-day"):
        assert page.locator(f"{table} tr").count() == 2, table  # header + one instrument/strategy/day
    # the price chart carries the entries and the exits
    names = page.evaluate("Array.from(document.getElementById('chart-price-0').data, t => t.name)")
    assert (
        "mark" in names
        and any(n.endswith("entry") for n in names)
        and any(n.startswith("exit:") for n in names)
    )


def test_a_demo_report_shows_exit_reasons_and_the_demo_sections(browser: BrowserPage, tmp_path: Path) -> None:
    insts = {si.instId: si.inst for si in default_instruments()}
    ledger = Ledger(insts, D(10_000))

    def req(cl: str, side: Side, ordType: OrdType, px: str | None, reduce: bool, tag: str = "") -> Order:
        return Order(
            req=OrderRequest(
                clOrdId=cl,
                instId=BTC,
                side=side,
                ordType=ordType,
                sz=D(1),
                px=D(px) if px else None,
                reduceOnly=reduce,
                strategy="scalp0",
                tag=tag,
            )
        )

    def fill(cl: str, side: Side, px: str, ts: int, reduce: bool) -> Fill:
        return Fill(
            clOrdId=cl,
            instId=BTC,
            side=side,
            posSide=PosSide.NET,
            fillSz=D(1),
            fillPx=D(px),
            accFillSz=D(1),
            fee=D("-0.02"),
            strategy="scalp0",
            reduceOnly=reduce,
            ts=ts,
        )

    st = DemoState()
    st.orders = {
        o.clOrdId: o
        for o in (
            req("scalp0BTC1", Side.BUY, OrdType.POST_ONLY, "100000", False),
            req("scalp0BTC2", Side.SELL, OrdType.LIMIT, "100100", True),  # its take profit
            req("scalp0BTC3", Side.SELL, OrdType.POST_ONLY, "100050", False),
            req("slscalp0BTC3", Side.BUY, OrdType.MARKET, None, True, tag="stop"),  # its stop, triggered
            req("scalp0BTC5", Side.BUY, OrdType.POST_ONLY, "100000", False),
        )
    }
    fills = [
        fill("scalp0BTC1", Side.BUY, "100000", T0 + 1000, False),
        fill("scalp0BTC2", Side.SELL, "100100", T0 + 9000, True),
        fill("scalp0BTC3", Side.SELL, "100050", T0 + 20_000, False),
        fill("slscalp0BTC3", Side.BUY, "100110", T0 + 30_000, True),
        fill("scalp0BTC5", Side.BUY, "100000", T0 + 40_000, False),
        fill("x777", Side.SELL, "99990", T0 + 61_000, True),
    ]
    for f in fills:
        ledger.on_fill(f, "scalp0")
    st.flatten_at_ms = T0 + 60_000
    st.equity = [(T0 + i * 5000, D(10_000) + D(i % 3) - D(i) / 10) for i in range(1, 14)]
    st.prices = {BTC: [(T0 + i * 5000, D(100_000) + i * 10) for i in range(14)]}
    doc = {
        "symbols": [BTC],
        "seed": 7,
        "orders": 5,
        "entries": 3,
        "fills": 6,
        "stops_placed": 3,
        "milestones": {"entry": 0.5, "take_profit": 9.0, "stop_loss": 30.0},
        "notes": ["first fill: scalp0BTC1"],
        "task_latency": {
            "athena.place_order": {
                "runs": 3,
                "failed": 0,
                "wait_p50_ms": 1.2,
                "wait_max_ms": 3.0,
                "run_p50_ms": 4.0,
                "run_max_ms": 9.0,
            }
        },
        "final_reconcile": {"drift": []},
        "capital": {"clamps": 0, "reserved_mismatch": []},
        "flatten": {"flat": True},
        "fee_gate": {"skipped": 4, "entries": 3},
    }
    data = demo_report_data(doc, ledger, st, T0, 60)
    assert [t.exit_reason for t in data.trades] == ["take_profit", "stop_loss", "flatten"]
    folder = new_run_folder(tmp_path, "demo")
    summary = write_report(data, folder)
    assert summary["fills"] == 6 and summary["kind"] == "demo"  # the demo's own keys stay at the top
    assert summary["figures"]["trades"] == 3 and summary["figures"]["wins"] == 1
    open_report(browser, folder / "report.html", charts=3)
    page = browser.page
    assert page.locator("#by-exit-reason tr").count() == 4  # header + flatten, stop_loss, take_profit
    assert "the flatten task closed it" in page.inner_text("#by-exit-reason")
    body = page.inner_text("body")
    assert (
        "Task latencies" in body and "athena.place_order" in body and "entries skipped / sent\t4 / 3" in body
    )


def test_a_report_without_trades_still_renders(browser: BrowserPage, tmp_path: Path) -> None:
    curve = [(T0, D(1000)), (T0 + 90_000, D(1000))]
    data = ReportData(
        kind="paper",
        title="nothing traded",
        meta={},
        initial_equity=D(1000),
        final_equity=D(1000),
        curve=curve,
        trades=[],
        start_ts=T0,
        end_ts=T0 + 90_000,
        prices={BTC: curve},
    )
    folder = new_run_folder(tmp_path, "paper")
    write_report(data, folder)
    open_report(browser, folder / "report.html", charts=3)
    text = browser.page.inner_text("#figures-trades")
    assert "profit factor\t—" in text or "profit factor —" in text.replace("\t", " ")
    assert browser.page.inner_text("#by-day").count("no trades") == 1
