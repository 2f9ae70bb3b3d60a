"""The backtest end to end: the real strategy + OMS stack against the sim's matching engine.

- a scripted handful of ticks with hand-computed PnL (maker entry, maker TP; and a stop-loss exit),
- byte-for-byte repeatable reports for a seed (the CLI run twice), each run in a folder of its own,
- the ledger agrees with the sim's own account equity.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from athena import procs
from athena.backtest.cli import main as backtest_main
from athena.backtest.engine import run_backtest
from athena.backtest.feed import MarketEvent, read_jsonl
from athena.backtest.report import report_data
from athena.report.figures import tables as report_tables
from tests.integration.backtest_scenarios import BTC, PARAMS, book, one_strategy, tp_scenario, trade
from tests.reports import report_folder, report_folders

D = Decimal
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "athena" / "data"


# The sim's contract and fee schedule, restated here so the expectations below are computed by hand.
CT_VAL = D("0.01")  # BTC per contract
MAKER, TAKER = D("0.0002"), D("0.0005")  # fee rates (paid: negative in the ledger)
START = D(10_000)


def test_scripted_take_profit_round_trip_matches_hand_computed_pnl(redis_client: Any) -> None:
    res = run_backtest(tp_scenario(), one_strategy(), redis_client, total_capital=START)
    qty, entry, exit_ = D(1), D("100000.0"), D("100100.0")
    gross = (exit_ - entry) * qty * CT_VAL
    fee_in, fee_out = -entry * qty * CT_VAL * MAKER, -exit_ * qty * CT_VAL * MAKER
    net = gross + fee_in + fee_out
    assert (gross, fee_in, fee_out, net) == (D("1.0"), D("-0.2"), D("-0.2002"), D("0.5998"))  # the hand sums
    assert len(res.trips) == 1
    t = res.trips[0]
    assert (t.side, t.qty, t.entry_px, t.exit_px) == ("long", qty, entry, exit_)
    assert t.gross == gross and t.fees == fee_in + fee_out and t.net == net
    f = res.figures()
    assert f["gross_pnl"] == gross and f["fees"] == fee_in + fee_out and f["net_pnl"] == net
    assert f["final_equity"] == START + net
    assert f["exchange_equity"] == START + net  # the sim's account agrees to the last digit
    assert f["trades"] == 1 and f["wins"] == 1 and f["win_rate"] == D(1)
    # the worst point: just after the entry fill, marked at the mid rounded to the tick (100000.0): only the
    # fee is lost
    mark = ((D("100000.0") + D("100000.1")) / 2).quantize(D("0.1"))
    assert f["max_drawdown"] == -(fee_in + (mark - entry) * qty * CT_VAL)
    assert f["max_exposure"] == mark * qty * CT_VAL  # 1000 USDT notional
    assert f["time_in_market_pct"] == D(100) * (1_300 - 1_200) / (1_400 - 1_000)  # held from fill to TP fill
    assert [fl.execType for _, fl in res.ledger.fills] == ["M", "M"]
    assert res.stats["scalp"]["take_profits"] == 1 and not res.errors


def test_scripted_stop_loss_exit_at_the_exchange(redis_client: Any) -> None:
    events = [
        trade(1_000, "buy", "100000.1", "1"),
        book(1_100, "100000.0", "100000.1"),
        trade(1_200, "sell", "99999.9"),  # entry filled @ 100000.0 (maker); stop 99850.0 placed by the OMS
        book(1_300, "99800.0", "99800.1", "10", "10"),  # the market falls ...
        trade(
            1_350, "sell", "99800.0"
        ),  # ... and trades through the stop (last px): a market sell takes the bid
        book(1_400, "99800.0", "99800.1", "10", "10"),
    ]
    res = run_backtest(events, one_strategy(), redis_client, total_capital=START)
    qty, entry, exit_ = D(1), D("100000.0"), D("99800.0")
    gross = (exit_ - entry) * qty * CT_VAL
    fees = (
        -entry * qty * CT_VAL * MAKER - exit_ * qty * CT_VAL * TAKER
    )  # maker in, taker out (the stop's market order)
    assert (gross, fees) == (D("-2.0"), D("-0.699"))
    assert len(res.trips) == 1
    t = res.trips[0]
    assert t.exit.startswith("sl") and t.exit_px == exit_
    assert t.gross == gross and t.fees == fees and t.net == gross + fees
    f = res.figures()
    assert f["final_equity"] == f["exchange_equity"] == START + gross + fees == D("9997.301")
    assert f["max_drawdown"] == -(gross + fees)  # from the starting peak to the end
    assert f["trades"] == 1 and f["wins"] == 0 and f["win_rate"] == D(0)
    assert [fl.execType for _, fl in res.ledger.fills] == ["M", "T"]


def test_stop_grows_with_a_partially_filled_entry_and_covers_it_all_when_it_fires(redis_client: Any) -> None:
    events = [
        trade(1_000, "buy", "100000.1", "1"),
        book(1_100, "100000.0", "100000.1"),  # post_only buy 1 @ 100000.0
        trade(1_200, "sell", "99999.9", "0.4"),  # partial fill 0.4: stop for 0.4
        trade(
            1_250, "sell", "99999.9", "0.3"
        ),  # 0.7: the stop grows (the sim has no amend: re-placed, same id)
        trade(1_300, "sell", "99999.9", "0.3"),  # the rest: it must grow again, to 1
        book(1_400, "99800.0", "99800.1", "10", "10"),
        trade(1_450, "sell", "99800.0"),  # through the stop: it sells the whole 1
        book(1_500, "99800.0", "99800.1", "10", "10"),
    ]
    res = run_backtest(events, one_strategy(), redis_client, total_capital=START)
    fills = [(f.clOrdId[:2], f.fillSz) for _, f in res.ledger.fills]
    assert fills == [("sc", D("0.4")), ("sc", D("0.3")), ("sc", D("0.3")), ("sl", D(1))]
    assert len(res.trips) == 1 and res.trips[0].qty == D(1) and not res.ledger.open_positions()
    fees = -(D("100000.0") * CT_VAL * MAKER) - D("99800.0") * CT_VAL * TAKER
    assert res.figures()["final_equity"] == res.figures()["exchange_equity"] == START + D("-2.0") + fees
    assert not res.errors


def to_push(ev: MarketEvent) -> dict[str, Any]:
    """A scripted event as OKX's public push (what `athena backtest --data` reads)."""
    if ev.book is not None:
        lv = lambda levels: [[str(x.px), str(x.sz), "0", "1"] for x in levels]  # noqa: E731
        return {
            "arg": {"channel": "books5", "instId": ev.instId},
            "data": [{"asks": lv(ev.book.asks), "bids": lv(ev.book.bids), "ts": str(ev.ts)}],
        }
    assert ev.trade is not None
    tr = ev.trade
    return {
        "arg": {"channel": "trades", "instId": ev.instId},
        "data": [
            {
                "instId": tr.instId,
                "tradeId": tr.tradeId,
                "px": str(tr.px),
                "sz": str(tr.sz),
                "side": tr.side,
                "ts": str(tr.ts),
            }
        ],
    }


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    athena = str(Path(sys.executable).parent / "athena")  # the console script, as a user runs it
    return procs.run([athena, "backtest", *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_cli_on_a_scripted_file_prints_and_writes_the_hand_computed_figures(tmp_path: Path) -> None:
    data = tmp_path / "tiny.jsonl"
    data.write_text(
        '{"event":"subscribe","arg":{"channel":"books5"}}\n'  # not data: skipped
        + "".join(json.dumps(to_push(e)) + "\n" for e in tp_scenario())
    )
    parent = tmp_path / "report"
    run = run_cli(
        "--data", str(data), "--params", json.dumps(PARAMS), "--capital", "10000", "--out", str(parent)
    )
    assert run.returncode == 0, run.stderr
    out = report_folder(parent)
    assert out.name.endswith("-ScalperV1")
    lines = run.stdout.splitlines()
    assert f"report: {out}" in lines  # the CLI names the run's folder
    assert "trades 1  wins 1  win rate 1  profit factor infinite: no losing trade  expectancy 0.5998" in lines
    assert "gross PnL 1  fees -0.4002  funding 0  net PnL 0.5998" in lines
    assert "equity 10000 -> 10000.5998 (exchange 10000.5998)" in lines
    assert "max drawdown 0.2 (0.002%) lasting 0 s" in lines
    assert "exposure: in market 25% of the time, max 1000" in lines
    trades = (out / "trades.csv").read_text().splitlines()
    assert trades[0].endswith(
        ",duration_s,qty,entry_px,exit_px,gross_pnl,fees,net_pnl,exit_reason,exit_clOrdId"
    )
    assert trades[1] == (
        "scalp0,BTC-USDT-SWAP,long,1200,1300,1970-01-01T00:00:01.200Z,1970-01-01T00:00:01.300Z,0.1,"
        "1,100000,100100,1,-0.4002,0.5998,take_profit,scalp0BTCUSDT2"
    )
    doc = json.loads((out / "summary.json").read_text())
    fig = doc["figures"]
    assert (fig["net_pnl"], fig["fees"], fig["win_rate"], fig["trades"]) == ("0.5998", "-0.4002", "1", 1)
    assert (fig["profit_factor"], fig["profit_factor_note"]) == (None, "infinite: no losing trade")
    assert [(r["key"], r["trades"], r["net_pnl"]) for r in doc["tables"]["exit_reason"]] == [
        ("take_profit", 1, "0.5998")
    ]
    page = (out / "report.html").read_text()
    assert "0.60" in page and 'id="chart-equity"' in page and 'id="chart-price-0"' in page and "∞" in page


def test_cli_subprocess_on_the_shipped_sample_is_byte_for_byte_repeatable(tmp_path: Path) -> None:
    out = tmp_path / "r"
    runs = []
    for i in range(2):
        run = run_cli("--data", str(DATA / "btc_sample.jsonl"), "--out", str(out))
        assert run.returncode == 0, run.stderr
        folder = report_folders(out)[i]  # the second run made a folder of its own
        runs.append(
            (run.stdout.replace(str(folder), "<folder>"), {p.name: p.read_bytes() for p in folder.iterdir()})
        )
    assert len(report_folders(out)) == 2
    assert runs[0] == runs[1]
    stdout, files = runs[0]
    assert sorted(files) == ["fills.csv", "report.html", "summary.json", "trades.csv"]
    for needle in ("trades ", "win rate", "gross PnL", "fees", "net PnL", "max drawdown", "exposure"):
        assert needle in stdout
    fig = json.loads(files["summary.json"])["figures"]
    assert fig["events"] == len(read_jsonl(DATA / "btc_sample.jsonl")) and fig["fills"] > 0
    assert D(fig["final_equity"]) == D(fig["exchange_equity"])


def test_cli_report_is_byte_for_byte_repeatable(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "r"
    runs = []
    for i in range(2):
        assert backtest_main(["--synthetic", "--seed", "11", "--duration", "240", "--out", str(out)]) == 0
        folder = report_folders(out)[i]
        runs.append(
            (
                capsys.readouterr().out.replace(str(folder), "<folder>"),
                {p.name: p.read_bytes() for p in folder.iterdir()},
            )
        )
    assert sorted(runs[0][1]) == ["fills.csv", "report.html", "summary.json", "trades.csv"]
    assert runs[0][0] == runs[1][0] and "net PnL" in runs[0][0]  # what it prints ...
    for name, body in runs[0][1].items():
        assert body == runs[1][1][name], name  # ... and every report file, byte for byte
    doc = json.loads(runs[0][1]["summary.json"])
    fig = doc["figures"]
    # multi-level fills: the OMS derives each fill's px from cumulative avgPx, exact to 8 extra digits
    assert abs(D(fig["final_equity"]) - D(fig["exchange_equity"])) < D("1e-8")
    assert D(fig["net_pnl"]) == D(fig["gross_pnl"]) + D(fig["fees"]) + D(fig["funding"]) + D(
        fig["unrealized_pnl"]
    )
    assert (
        fig["fills"] > 0 and fig["ratio_bar"] == "1 minute" and fig["ratio_returns"] == 3
    )  # 239.9 s of data
    trades = runs[0][1]["trades.csv"].decode().splitlines()[1:]
    assert trades and all(
        row.split(",")[14] in ("take_profit", "market_close", "stop_loss") for row in trades
    )


def test_different_seeds_give_different_markets(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert backtest_main(["--synthetic", "--seed", "1", "--duration", "60", "--out", str(a), "--quiet"]) == 0
    assert backtest_main(["--synthetic", "--seed", "2", "--duration", "60", "--out", str(b), "--quiet"]) == 0
    assert (report_folder(a) / "report.html").read_bytes() != (report_folder(b) / "report.html").read_bytes()


def test_sample_file_replays(tmp_path: Path, capsys: Any) -> None:
    sample = DATA / "btc_sample.jsonl"
    events = read_jsonl(sample)
    assert len(events) > 1000 and {e.instId for e in events} == {BTC}
    assert backtest_main(["--data", str(sample), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "net PnL" in out and "max drawdown" in out and "win rate" in out


def test_bad_inputs_fail_plainly(tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"arg": {"channel": "books5", "instId": "BTC-USDT-SWAP"}, "data": [{"bids": 1}]}\n')
    assert backtest_main(["--data", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
    assert (
        backtest_main(
            ["--synthetic", "--duration", "5", "--params", '{"nope": 1}', "--out", str(tmp_path / "p")]
        )
        == 2
    )  # refused before the run
    assert "params.nope: unknown param" in capsys.readouterr().err


def test_an_open_position_pays_funding_at_the_settlement_in_ledger_and_exchange(redis_client: Any) -> None:
    settle = 1_780_000_000_000 // 28_800_000 * 28_800_000 + 28_800_000  # an 8-hour boundary (00/08/16 UTC)
    t0 = settle - 30_000
    events = [
        trade(t0 + 1_000, "buy", "100000.1", "1"),
        book(t0 + 1_100, "100000.0", "100000.1"),
        trade(t0 + 1_200, "sell", "99999.9"),  # long 1 @ 100000.0 (maker)
        MarketEvent(t0 + 1_300, BTC, funding=D("0.0001")),  # the rate of the period settling next
        MarketEvent(t0 + 1_400, BTC, mark=D("100050.0")),
        book(settle + 500, "100000.0", "100000.1"),  # past the settlement: charged at the mark
    ]
    res = run_backtest(events, one_strategy(), redis_client, total_capital=START)
    assert res.ledger.open_positions() and not res.trips  # held through the settlement
    funding = -D("0.0001") * 1 * CT_VAL * D("100050.0")  # a long pays a positive rate
    f = res.figures()
    assert f["funding"] == funding == res.ledger.funding_by["scalp"] == D("-0.10005")
    assert f["final_equity"] == f["exchange_equity"]  # charged on the exchange and in the ledger alike
    assert f["net_pnl"] == f["gross_pnl"] + f["fees"] + f["funding"] + f["unrealized_pnl"]
    # the report: funding per instrument, strategy and the day it settled, though no trade closed
    tables = report_tables(report_data(res, {"strategies": []}))
    day = datetime.fromtimestamp(settle / 1000, UTC).strftime("%Y-%m-%d")
    assert [(r["key"], r["trades"], r["funding"]) for r in tables["day"]] == [(day, 0, funding)]
    assert [(r["key"], r["funding"]) for r in tables["instrument"]] == [(BTC, funding)]
    assert [(r["key"], r["funding"]) for r in tables["strategy"]] == [("scalp", funding)]
