"""The paper venue's queue estimate (athena.sim.queue), the PaperExchange matching that uses it, funding
and the feed's book checks, in process: upstream books and trades are fed as the UpstreamFeed feeds them."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from athena.sim.book import checksum
from athena.sim.models import Level
from athena.sim.paper import PaperExchange
from athena.sim.queue import QueueEstimator
from athena.sim.upstream import UpstreamFeed

BTC = "BTC-USDT-SWAP"


def test_queue_ahead_is_the_displayed_size_when_joining_and_trades_at_the_price_consume_it() -> None:
    q = QueueEstimator()
    q.join("1", "buy", D(100), D(10))
    assert q.on_trade("1", D(4)) == 0
    assert q.places["1"].ahead == D(6)
    assert q.on_trade("1", D(9)) == D(3)  # 6 were ahead: 3 of the 9 reach the order
    assert q.places["1"].ahead == 0


def test_a_shrinking_level_caps_the_queue_and_a_growing_one_queues_behind() -> None:
    q = QueueEstimator()
    q.join("1", "sell", D(100), D(10))
    q.on_level("1", D(25))  # orders joined behind
    assert q.places["1"].ahead == D(10)
    q.on_level("1", D(12))  # cancels behind (12 still displayed >= 10 ahead)
    assert q.places["1"].ahead == D(10)
    q.on_level("1", D(7))  # at most what is displayed can be ahead
    assert q.places["1"].ahead == D(7)
    q.on_level("1", D(0))
    assert q.places["1"].ahead == 0
    # a trade right after the update that showed 7 vanish is taken for those 7 (pessimistic: no fill) ...
    assert q.on_trade("1", D(2)) == 0
    q.on_level("1", D(0))  # ... the next update explains nothing more: a trade now reaches the order
    assert q.on_trade("1", D(2)) == D(2)


def test_a_trade_and_its_book_update_count_once_in_either_order() -> None:
    book_first, trade_first = QueueEstimator(), QueueEstimator()
    for q in (book_first, trade_first):
        q.join("1", "buy", D(100), D(10))
    # a trade of 12 at 100 takes the 10 displayed and 2 of ours; the book then shows the level gone
    book_first.on_level("1", D(0))
    assert book_first.on_trade("1", D(12)) == D(2)
    assert trade_first.on_trade("1", D(12)) == D(2)
    trade_first.on_level("1", D(0))
    # a trade of 4 of the 10: 6 stay ahead, whichever arrives first
    a, b = QueueEstimator(), QueueEstimator()
    for q in (a, b):
        q.join("1", "buy", D(100), D(10))
    a.on_level("1", D(6))
    assert a.on_trade("1", D(4)) == 0
    assert b.on_trade("1", D(4)) == 0
    b.on_level("1", D(6))
    assert a.places["1"].ahead == b.places["1"].ahead == D(6)
    # the next trade of 6 clears the queue in both, and one more contract reaches the order
    assert a.on_trade("1", D(7)) == b.on_trade("1", D(7)) == D(1)


def _book(ex: PaperExchange, bid: str, ask: str, bid_sz: str = "5", ask_sz: str = "5") -> None:
    tick = ex.insts[BTC].inst.tickSz
    bids: list[Level] = [(D(bid) - i * tick, D(bid_sz), 1) for i in range(5)]
    asks: list[Level] = [(D(ask) + i * tick, D(ask_sz), 1) for i in range(5)]
    ex.upstream_book(BTC, bids, asks, None)


def _post(ex: PaperExchange, side: str, px: str, sz: str = "1", ord_type: str = "post_only") -> str:
    item = ex.place_order(
        {
            "instId": BTC,
            "tdMode": "cross",
            "side": side,
            "ordType": ord_type,
            "px": px,
            "sz": sz,
            "clOrdId": f"t{len(ex.orders)}",
        }
    )
    assert item["sCode"] == "0", item
    return str(item["ordId"])


def test_a_post_only_bid_at_the_touch_fills_only_once_trades_consume_the_queue_ahead() -> None:
    ex = PaperExchange(seed=1)
    _book(ex, "100000.0", "100000.5")
    oid = _post(ex, "buy", "100000.0")
    assert ex.queue.places[oid].ahead == D(5)
    ex.upstream_trade(BTC, D("100000.0"), D(3), "sell", None)
    assert ex.orders[oid].accFillSz == 0
    ex.upstream_book(BTC, [(D("100000.0"), D(2), 1)], [(D("100000.5"), D(5), 1)], None)  # shows that trade
    assert ex.queue.places[oid].ahead == D(2)
    ex.upstream_trade(BTC, D("100000.0"), D("2.5"), "sell", None)
    o = ex.orders[oid]
    assert (o.accFillSz, o.fillPx, o.execType, o.state) == (D("0.5"), D("100000.0"), "M", "partially_filled")
    # a trade below the bid went through it: the rest fills at the order's own price
    ex.upstream_trade(BTC, D("99999.9"), D(3), "sell", None)
    assert (o.accFillSz, o.fillPx, o.state) == (D(1), D("100000.0"), "filled")
    assert oid not in ex.queue.places


def test_a_bid_better_than_the_book_has_no_queue_and_a_buy_trade_does_not_fill_it() -> None:
    ex = PaperExchange(seed=1)
    _book(ex, "100000.0", "100001.0")
    oid = _post(ex, "buy", "100000.5")
    assert ex.queue.places[oid].ahead == 0
    ex.upstream_trade(BTC, D("100000.5"), D(1), "buy", None)  # a buyer: not against our bid
    assert ex.orders[oid].accFillSz == 0
    ex.upstream_trade(BTC, D("100000.5"), D("0.3"), "sell", None)
    assert ex.orders[oid].accFillSz == D("0.3")


def test_the_book_crossing_a_resting_order_fills_it_at_its_price_and_a_taker_takes_displayed_levels() -> None:
    ex = PaperExchange(seed=1)
    _book(ex, "100000.0", "100000.5")
    oid = _post(ex, "sell", "100000.5")
    _book(ex, "100000.6", "100000.7")  # bids moved through the offer
    assert (ex.orders[oid].state, ex.orders[oid].fillPx) == ("filled", D("100000.5"))
    tid = _post(ex, "buy", "100001.0", sz="7", ord_type="limit")
    t = ex.orders[tid]
    assert t.state == "filled" and t.execType == "T"
    assert [f["fillPx"] for f in ex.fills if f["ordId"] == tid] == ["100000.8", "100000.7"]


def test_a_stale_book_fills_nothing_and_a_new_price_rejoins_the_back_of_the_queue() -> None:
    ex = PaperExchange(seed=1)
    assert ex.stale == set(ex.insts)  # nothing fills before the upstream's first book
    mkt = ex.place_order({"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1"})
    assert ex.orders[mkt["ordId"]].state == "canceled" and ex.orders[mkt["ordId"]].accFillSz == 0
    _book(ex, "100000.0", "100000.5")
    oid = _post(ex, "buy", "99999.9", ord_type="limit")
    assert ex.queue.places[oid].ahead == D(5)
    ex.set_stale(BTC)
    assert ex.markets[BTC].bids == [] and ex.markets[BTC].asks == []
    ex.upstream_trade(BTC, D("99999.0"), D(9), "sell", None)  # no book: not matched
    lim = _post(ex, "buy", "100002.0", ord_type="limit")  # would cross the last book: rests instead
    late = _post(ex, "sell", "100000.6")  # no book to queue in yet
    assert ex.orders[oid].accFillSz == 0 and ex.orders[lim].state == "live" and late not in ex.queue.places
    _book(ex, "100000.0", "100000.5")  # resynced: the crossing limit takes the ask now
    assert ex.orders[lim].state == "filled"
    assert ex.queue.places[late].ahead == D(5)  # behind what the rebuilt book shows at its price
    amend = ex.amend_order({"instId": BTC, "ordId": oid, "newPx": "100000.0"})
    assert amend["sCode"] == "0"
    assert ex.queue.places[oid].px == D("100000.0") and ex.queue.places[oid].ahead == D(5)


def test_funding_is_charged_at_the_upstreams_funding_time_and_rate_once() -> None:
    now = [1_700_000_000_000]
    ex = PaperExchange(seed=1, clock=lambda: now[0])
    _book(ex, "100000.0", "100000.5")
    ex.place_order({"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "2"})
    ex.upstream_funding[BTC] = {"instId": BTC, "fundingRate": "0.001", "fundingTime": str(now[0] + 1000)}
    assert ex.settle_due_funding() == 0  # not yet
    now[0] += 1000
    assert ex.settle_due_funding() == 1
    bills = [b for b in ex.bills if b["type"] == "8"]
    # a long pays a positive rate: 2 contracts x 0.01 BTC x mark 100000.2 (the upstream mid, on the tick)
    # x 0.001
    assert [D(b["pnl"]) for b in bills] == [D("-2.000004")]
    assert ex.settle_due_funding() == 0  # once per fundingTime


def test_a_books_checksum_mismatch_stales_the_book_until_a_new_snapshot() -> None:
    ex = PaperExchange(seed=1)
    feed = UpstreamFeed(ex, "ws://unused")
    bids, asks = [["100000.0", "5", "0", "1"]], [["100000.5", "5", "0", "1"]]
    snap = {
        "bids": bids,
        "asks": asks,
        "ts": "1",
        "prevSeqId": -1,
        "seqId": 10,
        "checksum": checksum(bids, asks),
    }

    def push(d: dict[str, object], action: str) -> None:
        asyncio.run(
            feed.on_message({"arg": {"channel": "books", "instId": BTC}, "action": action, "data": [d]})
        )

    push(snap, "snapshot")
    assert BTC not in ex.stale and ex.markets[BTC].best_bid == D("100000.0")
    push(
        {
            "bids": [["100000.0", "4", "0", "1"]],
            "asks": [],
            "ts": "2",
            "prevSeqId": 10,
            "seqId": 11,
            "checksum": 12345,
        },
        "update",
    )  # not the checksum of the book it makes
    assert BTC in ex.stale and ex.markets[BTC].bids == [] and feed.resyncs[BTC] == 1
    push({"bids": [], "asks": [], "ts": "3", "prevSeqId": 11, "seqId": 12, "checksum": 0}, "update")
    assert BTC in ex.stale and feed.resyncs[BTC] == 1  # updates before the new snapshot are dropped
    push({**snap, "seqId": 20}, "snapshot")
    assert BTC not in ex.stale and ex.markets[BTC].best_ask == D("100000.5")
