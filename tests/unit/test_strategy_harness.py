"""StrategyHarness drives a real strategy (ScalperV1 here) on the real context and runner, without Redis:
entries, fills, partial fills, cancels, rejections, risk refusals and the fee gate all reach it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from athena.domain import OrderState, OrdType, Side
from athena.strategies import ScalperV1
from athena.strategies.context import FeeRates
from athena.testing.harness import StrategyHarness

D = Decimal
FAST = {
    "imbalance_window": 2,
    "flow_window": 3,
    "min_trades": 2,
    "take_profit_bps": "10",
    "stop_loss_bps": "15",
    "max_contracts": "1",
    "cooldown_s": "1",
    "time_stop_s": "30",
}


def warm_long(h: StrategyHarness) -> None:
    h.trade("100000.1", side="buy")
    h.trade("100000.1", side="buy")
    h.book(bid_sz="10", ask_sz="2")
    h.book(bid_sz="10", ask_sz="2")


def test_scalper_round_trip_on_the_harness() -> None:
    h = StrategyHarness("ScalperV1", FAST, name="scalp")
    s = h.strategy
    assert isinstance(s, ScalperV1)
    warm_long(h)
    assert len(h.orders) == 1
    entry = h.orders[0]
    assert (entry.side, entry.ordType, entry.px, entry.sz) == (
        Side.BUY,
        OrdType.POST_ONLY,
        D("100000.0"),
        D(1),
    )
    assert entry.stop_loss_px == D("99850.0") and entry.clOrdId.startswith("scalpBTCUSDT")
    h.ack(entry.clOrdId)
    h.fill(entry.clOrdId, sz="0.4")  # a partial fill, then the rest
    h.fill(entry.clOrdId)
    assert h.position() == D(1) and h.fills[0].fee == -(D("0.4") * D("0.01") * D("100000.0") * D("0.0002"))
    h.book(bid_sz="10", ask_sz="2")  # the next tick places the take profit
    tp = h.orders[-1]
    assert tp.reduceOnly and tp.side is Side.SELL and tp.px == D("100100.0") and tp.sz == D(1)
    h.fill(tp.clOrdId)
    assert h.position() == 0 and s.stats["take_profits"] == 1 and s.slots["BTC-USDT-SWAP"].pos == 0


def test_time_stop_cancels_and_closes_at_market() -> None:
    h = StrategyHarness(ScalperV1, FAST, name="scalp")
    warm_long(h)
    h.fill(h.orders[0].clOrdId)
    h.book(bid_sz="10", ask_sz="2")
    tp = h.orders[-1]
    h.advance(30_000)
    h.book(bid_sz="10", ask_sz="2")
    close = h.orders[-1]
    assert h.cancels == [tp.clOrdId] and close.ordType is OrdType.MARKET and close.reduceOnly
    h.fill(close.clOrdId, px="99990.0")
    assert h.position() == 0 and h.strategy.stats["time_stops"] == 1  # type: ignore[attr-defined]
    assert h.book_of_orders[tp.clOrdId].state is OrderState.CANCELED  # confirmed before the fill


def test_refusals_rejections_and_the_fee_gate() -> None:
    h = StrategyHarness(ScalperV1, {**FAST, "refusal_backoff_s": "0"}, name="scalp")
    h.refuse_next("max_orders_per_minute")
    warm_long(h)
    assert h.strategy.stats["refused"] == 1 and h.orders == []  # type: ignore[attr-defined]
    h.book(bid_sz="10", ask_sz="2")
    assert len(h.orders) == 1
    h.reject(h.orders[0].clOrdId, "51026 post only would take")  # the retry, refused by the exchange
    assert not h.working()
    # the harness's fees are what ctx.fee_rates answers: 10 bps of TP do not pay 2 x 6 bps
    costly = StrategyHarness(ScalperV1, FAST, name="scalp", fees=FeeRates(D("0.0006"), D("0.001")))
    warm_long(costly)
    assert costly.orders == [] and costly.strategy.stats["fee_gate"] == 1  # type: ignore[attr-defined]


def test_what_the_harness_refuses() -> None:
    h = StrategyHarness(ScalperV1, FAST, name="scalp")
    with pytest.raises(KeyError, match="submitted no such order"):
        h.fill("nope")
    warm_long(h)
    cid = h.orders[0].clOrdId
    with pytest.raises(ValueError, match=r"fill of 2 with 1\.00 left"):
        h.fill(cid, sz="2")
    assert h.ctx.order("BTC-USDT-SWAP", Side.BUY, D("0.001"), D("100000.0")).reason.startswith(
        "sz 0.001 does not fit"
    )
