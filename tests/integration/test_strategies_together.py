"""Several strategies in one stack do not interfere: own clOrdIds, valves, locks, allocations, PnL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from athena.backtest.engine import run_backtest
from athena.backtest.feed import MarketEvent, events_from_push
from athena.backtest.synthetic import synthetic_pushes
from athena.config import StrategySettings
from athena.domain import BookTop, Level, Trade

BTC, ETH = "BTC-USDT-SWAP", "ETH-USDT-SWAP"
D = Decimal
FAST = {"imbalance_window": 1, "flow_window": 1, "min_trades": 1, "max_contracts": "1",
        "take_profit_bps": "10", "stop_loss_bps": "15"}


def book(ts: int, bid: str, ask: str, bid_sz: str = "10", ask_sz: str = "2") -> MarketEvent:
    tick = D("0.1")
    bids = tuple(Level(D(bid) - tick * i, D(bid_sz)) for i in range(5))
    asks = tuple(Level(D(ask) + tick * i, D(ask_sz)) for i in range(5))
    return MarketEvent(ts, BTC, book=BookTop(BTC, bids, asks, ts))


def trade(ts: int, side: str, px: str, sz: str = "5") -> MarketEvent:
    return MarketEvent(ts, BTC, trade=Trade(BTC, str(ts), D(px), D(sz), side, ts))


def test_two_strategies_on_one_instrument_keep_their_own_valves_and_pnl(redis_client: Any) -> None:
    strategies = [
        StrategySettings(name="alpha", instIds=[BTC], allocation=D("0.5"), params=FAST),
        StrategySettings(name="beta", instIds=[BTC], allocation=D("0.5"), params={**FAST, "take_profit_bps": "20"}),
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
