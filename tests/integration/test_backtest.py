"""The backtest end to end: the real strategy + OMS stack against the sim's matching engine.

- a scripted handful of ticks with hand-computed PnL (maker entry, maker TP; and a stop-loss exit),
- byte-for-byte repeatable reports for a seed (the CLI run twice),
- the ledger agrees with the sim's own account equity.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from athena.backtest.cli import main as backtest_main
from athena.backtest.engine import run_backtest
from athena.backtest.feed import MarketEvent, read_jsonl
from athena.config import StrategySettings
from athena.domain import BookTop, Level, Trade

BTC = "BTC-USDT-SWAP"
D = Decimal
PARAMS = {
    "imbalance_window": 1, "flow_window": 1, "min_trades": 1, "imbalance_threshold": "0.3", "flow_threshold": "0.2",
    "max_contracts": "1", "take_profit_bps": "10", "stop_loss_bps": "15", "time_stop_s": "60",
}
DATA = Path(__file__).resolve().parents[2] / "athena" / "data"


def book(ts: int, bid: str, ask: str, bid_sz: str = "10", ask_sz: str = "2") -> MarketEvent:
    tick = D("0.1")
    bids = tuple(Level(D(bid) - tick * i, D(bid_sz)) for i in range(5))
    asks = tuple(Level(D(ask) + tick * i, D(ask_sz)) for i in range(5))
    return MarketEvent(ts, BTC, book=BookTop(BTC, bids, asks, ts))


def trade(ts: int, side: str, px: str, sz: str = "5") -> MarketEvent:
    return MarketEvent(ts, BTC, trade=Trade(BTC, str(ts), D(px), D(sz), side, ts))


def one_strategy(params: dict[str, Any] | None = None) -> list[StrategySettings]:
    return [StrategySettings(name="scalp", instIds=[BTC], allocation=D(1), params={**PARAMS, **(params or {})})]


def test_scripted_take_profit_round_trip_matches_hand_computed_pnl(redis_client: Any) -> None:
    events = [
        trade(1_000, "buy", "100000.1", "1"),  # flow +1
        book(1_100, "100000.0", "100000.1"),  # imbalance 0.667 -> post_only buy 1 @ 100000.0, stop 99850.0
        trade(1_200, "sell", "99999.9"),  # prints through our bid: maker fill @ 100000.0; TP sell 1 @ 100100.0
        book(1_300, "100100.2", "100100.3", "2", "10"),  # the market bid crosses our TP: maker fill @ 100100.0
        book(1_400, "100100.2", "100100.3", "2", "10"),
    ]
    res = run_backtest(events, one_strategy(), redis_client, total_capital=D(10_000))
    # gross (100100.0 - 100000.0) * 1 contract * 0.01 BTC = 1.0
    # fees at the sim's maker rate 0.02%: 1000.000 * 0.0002 + 1001.000 * 0.0002 = 0.2 + 0.2002
    assert len(res.trips) == 1
    t = res.trips[0]
    assert (t.side, t.qty, t.entry_px, t.exit_px) == ("long", D(1), D("100000.0"), D("100100.0"))
    assert t.gross == D("1.0") and t.fees == D("-0.4002") and t.net == D("0.5998")
    f = res.figures()
    assert f["net_pnl"] == D("0.5998") and f["final_equity"] == D("10000.5998")
    assert f["exchange_equity"] == D("10000.5998")  # the sim's account agrees to the last digit
    assert f["trades"] == 1 and f["wins"] == 1 and f["win_rate"] == D(1)
    assert [fl.execType for _, fl in res.ledger.fills] == ["M", "M"]
    assert res.stats["scalp"]["take_profits"] == 1 and not res.errors


def test_scripted_stop_loss_exit_at_the_exchange(redis_client: Any) -> None:
    events = [
        trade(1_000, "buy", "100000.1", "1"),
        book(1_100, "100000.0", "100000.1"),
        trade(1_200, "sell", "99999.9"),  # entry filled @ 100000.0 (maker); stop 99850.0 placed by the OMS
        book(1_300, "99800.0", "99800.1", "10", "10"),  # the market falls ...
        trade(1_350, "sell", "99800.0"),  # ... and trades through the stop (last px): a market sell takes the bid
        book(1_400, "99800.0", "99800.1", "10", "10"),
    ]
    res = run_backtest(events, one_strategy(), redis_client, total_capital=D(10_000))
    # gross (99800.0 - 100000.0) * 0.01 = -2.0; fees: maker 0.2 + taker 998.000 * 0.0005 = 0.499
    assert len(res.trips) == 1
    t = res.trips[0]
    assert t.exit.startswith("sl") and t.exit_px == D("99800.0")
    assert t.gross == D("-2.0") and t.fees == D("-0.699") and t.net == D("-2.699")
    f = res.figures()
    assert f["final_equity"] == f["exchange_equity"] == D("9997.301")
    assert f["max_drawdown"] == D("2.699")
    assert [fl.execType for _, fl in res.ledger.fills] == ["M", "T"]


def test_cli_report_is_byte_for_byte_repeatable(tmp_path: Path) -> None:
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert backtest_main(["--synthetic", "--seed", "11", "--duration", "240", "--out", str(out), "--quiet"]) == 0
        outs.append(out)
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == ["equity.svg", "fills.csv", "summary.html", "summary.json", "trades.csv"]
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    doc = json.loads((outs[0] / "summary.json").read_text())
    fig = doc["figures"]
    # multi-level fills: the OMS derives each fill's px from cumulative avgPx, exact to 8 extra digits
    assert abs(D(fig["final_equity"]) - D(fig["exchange_equity"])) < D("1e-8")
    assert D(fig["net_pnl"]) == D(fig["gross_pnl"]) + D(fig["fees"]) + D(fig["unrealized_pnl"])
    svg = (outs[0] / "equity.svg").read_text()
    assert svg.startswith("<svg") and "<polyline" in svg
    assert fig["fills"] > 0


def test_different_seeds_give_different_markets(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert backtest_main(["--synthetic", "--seed", "1", "--duration", "60", "--out", str(a), "--quiet"]) == 0
    assert backtest_main(["--synthetic", "--seed", "2", "--duration", "60", "--out", str(b), "--quiet"]) == 0
    assert (a / "equity.svg").read_bytes() != (b / "equity.svg").read_bytes()


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
    assert backtest_main(["--synthetic", "--duration", "5", "--params", '{"nope": 1}', "--out", str(tmp_path / "p")]) == 1
    assert "params.nope: unknown param" in capsys.readouterr().err
