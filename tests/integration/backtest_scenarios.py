"""Scripted backtest markets and the strategy they drive (helpers the backtest tests share; not a test
module)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from athena.backtest.feed import MarketEvent
from athena.config import StrategySettings
from athena.domain import BookTop, Level, Trade

BTC = "BTC-USDT-SWAP"
D = Decimal
PARAMS = {
    "imbalance_window": 1,
    "flow_window": 1,
    "min_trades": 1,
    "imbalance_threshold": "0.3",
    "flow_threshold": "0.2",
    "max_contracts": "1",
    "take_profit_bps": "10",
    "stop_loss_bps": "15",
    "time_stop_s": "60",
}


def book(ts: int, bid: str, ask: str, bid_sz: str = "10", ask_sz: str = "2") -> MarketEvent:
    tick = D("0.1")
    bids = tuple(Level(D(bid) - tick * i, D(bid_sz)) for i in range(5))
    asks = tuple(Level(D(ask) + tick * i, D(ask_sz)) for i in range(5))
    return MarketEvent(ts, BTC, book=BookTop(BTC, bids, asks, ts))


def trade(ts: int, side: str, px: str, sz: str = "5") -> MarketEvent:
    return MarketEvent(ts, BTC, trade=Trade(BTC, str(ts), D(px), D(sz), side, ts))


def one_strategy(params: dict[str, Any] | None = None) -> list[StrategySettings]:
    return [
        StrategySettings(name="scalp", instIds=[BTC], allocation=D(1), params={**PARAMS, **(params or {})})
    ]


def tp_scenario() -> list[MarketEvent]:
    return [
        trade(1_000, "buy", "100000.1", "1"),  # flow +1
        book(1_100, "100000.0", "100000.1"),  # imbalance 0.667 -> post_only buy 1 @ 100000.0, stop 99850.0
        trade(
            1_200, "sell", "99999.9"
        ),  # prints through our bid: maker fill @ 100000.0; TP sell 1 @ 100100.0
        book(
            1_300, "100100.2", "100100.3", "2", "10"
        ),  # the market bid crosses our TP: maker fill @ 100100.0
        book(1_400, "100100.2", "100100.3", "2", "10"),
    ]
