"""Several strategies in one stack do not interfere: own clOrdIds, valves, locks, allocations, PnL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from athena import procs
from athena.backtest.engine import run_backtest
from athena.backtest.feed import MarketEvent, events_from_push
from athena.backtest.synthetic import synthetic_pushes
from athena.config import StrategySettings
from athena.domain import BookTop, Level, Trade
from tests.integration.backtest_scenarios import book, trade

BTC, ETH = "BTC-USDT-SWAP", "ETH-USDT-SWAP"
D = Decimal
FAST = {
    "imbalance_window": 1,
    "flow_window": 1,
    "min_trades": 1,
    "max_contracts": "1",
    "take_profit_bps": "10",
    "stop_loss_bps": "15",
}


def test_two_strategies_on_one_instrument_keep_their_own_valves_and_pnl(redis_client: Any) -> None:
    strategies = [
        StrategySettings(name="alpha", instIds=[BTC], allocation=D("0.5"), params=FAST),
        StrategySettings(
            name="beta", instIds=[BTC], allocation=D("0.5"), params={**FAST, "take_profit_bps": "20"}
        ),
    ]
    events = [
        trade(1_000, "buy", "100000.1", "1"),
        book(1_100, "100000.0", "100000.1"),  # both enter: post_only buy 1 @ 100000.0 each
        trade(1_200, "sell", "99999.9", "5"),  # both filled; alpha TP @ 100100.0, beta TP @ 100200.0
        book(1_300, "100100.2", "100100.3", "2", "10"),  # alpha's TP fills, beta keeps its position
        book(1_400, "100200.2", "100200.3", "2", "10"),  # beta's TP fills
        book(1_500, "100200.2", "100200.3", "2", "10"),
    ]
    res = run_backtest(events, strategies, redis_client, total_capital=D(10_000))
    trips = {t.strategy: t for t in res.trips}
    assert set(trips) == {"alpha", "beta"}
    assert (trips["alpha"].exit_px, trips["alpha"].gross) == (D("100100.0"), D("1.0"))
    assert (trips["beta"].exit_px, trips["beta"].gross) == (D("100200.0"), D("2.0"))
    assert trips["alpha"].close_ts == 1_300 and trips["beta"].close_ts == 1_400
    ids = {s: {f.clOrdId for st, f in res.ledger.fills if st == s} for s in ("alpha", "beta")}
    assert all(c.startswith("alpha") for c in ids["alpha"]) and all(c.startswith("beta") for c in ids["beta"])
    # one shared instrument: neither strategy may treat the account position as its own (no false alarms)
    assert not [e for e in res.errors if e.get("message") == "position mismatch"]
    assert res.figures()["final_equity"] == res.figures()["exchange_equity"]
    assert res.stats["alpha"]["entries"] == 1 and res.stats["beta"]["entries"] == 1


def test_two_strategies_on_two_instruments_with_their_allocations(redis_client: Any) -> None:
    events = [e for m in synthetic_pushes(5, 300, (BTC, ETH)) for e in events_from_push(m)]
    strategies = [
        StrategySettings(name="sbtc", instIds=[BTC], allocation=D("0.3")),
        StrategySettings(name="seth", instIds=[ETH], allocation=D("0.6")),
    ]
    res = run_backtest(events, strategies, redis_client, total_capital=D(10_000))
    by = {s: [f for st, f in res.ledger.fills if st == s] for s in ("sbtc", "seth")}
    assert by["sbtc"] and by["seth"]
    assert {f.instId for f in by["sbtc"]} == {BTC} and {f.instId for f in by["seth"]} == {ETH}
    # each entry fits its own strategy's allocation x leverage 3 (and the 10000 max order notional)
    insts = res.ledger.instruments
    for name, alloc in (("sbtc", D("0.3")), ("seth", D("0.6"))):
        for f in by[name]:
            if not f.reduceOnly:
                assert insts[f.instId].notional(f.accFillSz, f.fillPx) <= min(D(10_000), alloc * 10_000 * 3)
    assert abs(res.figures()["final_equity"] - res.figures()["exchange_equity"]) < D("1e-8")
    assert not [e for e in res.errors if e.get("message") == "position mismatch"]


def eth_book(ts: int, bid: str, ask: str, bid_sz: str = "10", ask_sz: str = "2") -> MarketEvent:
    tick = D("0.01")
    bids = tuple(Level(D(bid) - tick * i, D(bid_sz)) for i in range(5))
    asks = tuple(Level(D(ask) + tick * i, D(ask_sz)) for i in range(5))
    return MarketEvent(ts, ETH, book=BookTop(ETH, bids, asks, ts))


def eth_trade(ts: int, side: str, px: str, sz: str = "5") -> MarketEvent:
    return MarketEvent(ts, ETH, trade=Trade(ETH, f"e{ts}", D(px), D(sz), side, ts))


def test_the_valve_is_per_instrument_within_one_strategy(redis_client: Any) -> None:
    strategies = [StrategySettings(name="both", instIds=[BTC, ETH], allocation=D("0.8"), params=FAST)]
    events = [
        trade(1_000, "buy", "100000.1", "1"),
        book(1_100, "100000.0", "100000.1"),  # BTC entry
        trade(1_200, "sell", "99999.9"),  # BTC filled: a BTC position is held ...
        book(1_300, "100000.0", "100000.1"),  # ... so no second BTC entry (its TP rests instead)
        eth_trade(1_400, "buy", "3500.01", "1"),
        eth_book(1_500, "3500.00", "3500.01"),  # ... but ETH may still enter
        eth_trade(1_600, "sell", "3499.99"),
        book(1_700, "100000.0", "100000.1"),
    ]
    res = run_backtest(events, strategies, redis_client, total_capital=D(10_000))
    entries = [f for _, f in res.ledger.fills if not f.reduceOnly]
    assert sorted(f.instId for f in entries) == [BTC, ETH]
    assert res.stats["both"]["entries"] == 2
    assert set(res.ledger.open_positions()) == {("both", BTC), ("both", ETH)}


def test_a_paused_strategy_does_not_enter_while_its_neighbour_does(redis_client: Any) -> None:
    from athena.backtest.engine import Backtest

    strategies = [
        StrategySettings(name="alpha", instIds=[BTC], allocation=D("0.5"), params=FAST),
        StrategySettings(name="beta", instIds=[BTC], allocation=D("0.5"), params=FAST),
    ]
    bt = Backtest(strategies, redis_client, total_capital=D(10_000))
    bt.stack.pause.pause("alpha", "test", "pytest")
    for ev in (
        trade(1_000, "buy", "100000.1", "1"),
        book(1_100, "100000.0", "100000.1"),
        trade(1_200, "sell", "99999.9", "5"),
        book(1_300, "100000.0", "100000.1"),
    ):
        bt.step(ev)
    res = bt.result()
    assert {st for st, _ in res.ledger.fills} == {"beta"}
    assert res.stats["alpha"]["entries"] == 0 and res.stats["alpha"]["paused"] >= 1
    assert res.stats["beta"]["entries"] == 1


def test_pausing_a_strategy_in_a_position_still_lets_it_exit(redis_client: Any) -> None:
    from athena.backtest.engine import Backtest

    strategies = [
        StrategySettings(name="alpha", instIds=[BTC], allocation=D("0.5"), params=FAST),
        StrategySettings(
            name="beta", instIds=[BTC], allocation=D("0.5"), params={**FAST, "take_profit_bps": "20"}
        ),
    ]
    bt = Backtest(strategies, redis_client, total_capital=D(10_000))
    for ev in (
        trade(1_000, "buy", "100000.1", "1"),
        book(1_100, "100000.0", "100000.1"),
        trade(1_200, "sell", "99999.9", "5"),
    ):
        bt.step(ev)
    assert set(bt.ledger.open_positions()) == {("alpha", BTC), ("beta", BTC)}
    bt.stack.pause.pause("alpha")
    bt.stack.pause.pause("beta")
    for ev in (
        book(1_300, "100100.2", "100100.3", "2", "10"),
        book(1_400, "100200.2", "100200.3", "2", "10"),
        # past the 10 s cooldown, a fresh buy signal: paused, neither enters again
        trade(12_500, "buy", "100200.3", "1"),
        book(12_600, "100200.2", "100200.3", "10", "2"),
        book(12_700, "100200.2", "100200.3", "10", "2"),
    ):
        bt.step(ev)
    res = bt.result()
    assert {t.strategy: t.exit_px for t in res.trips} == {"alpha": D("100100.0"), "beta": D("100200.0")}
    assert not res.ledger.open_positions()  # both out by their TPs, and no new entry since
    assert res.stats["alpha"]["entries"] == 1 and res.stats["beta"]["entries"] == 1
    assert res.stats["alpha"]["paused"] >= 1 and res.stats["beta"]["paused"] >= 1


def test_athena_halt_and_resume_strategy_flip_the_pause_flag(
    redis_client: Any, redis_url: str, tmp_path: Any
) -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from athena.state.keys import Keys
    from athena.strategies.pause import StrategyPause

    root = Path(__file__).resolve().parents[2]
    athena = str(Path(sys.executable).parent / "athena")
    env = {
        **os.environ,
        "ATHENA_ENV": "test",
        "REDIS_URL": redis_url,
        "ATHENA_DB_URL": f"sqlite:///{tmp_path}/a.db",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return procs.run([athena, *args], env=env, cwd=root, capture_output=True, text=True, timeout=60)

    out = run("halt", "--strategy", "scalpbtc", "--reason", "news", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["changed"] is True and doc["all_paused"]["scalpbtc"]["reason"] == "news"
    from athena.config import load_settings

    settings = load_settings(env="test", environ=env, dotenv=False)
    pause = StrategyPause(redis_client, Keys(settings.env, settings.account))
    assert pause.is_paused("scalpbtc") and not pause.is_paused("scalpeth")
    out = run("resume", "--strategy", "scalpbtc", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["changed"] is True
    assert not pause.is_paused("scalpbtc")
    out = run("halt", "--strategy", "nosuch")
    assert out.returncode == 2 and "unknown strategy 'nosuch'" in out.stderr
