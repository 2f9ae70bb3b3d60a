"""Synthetic market (seeded, predictive imbalance, realistic spread) and JSONL replay."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

from athena.sim.exchange import Exchange
from athena.sim.market import Replay, SyntheticMarket, read_jsonl
from tests.sim.helpers import BTC, Clock, o, pos


def test_synthetic_book_is_sane_and_imbalance_predicts_moves() -> None:
    ex = Exchange(seed=11, clock=Clock())
    mkt = SyntheticMarket(ex, seed=11)
    tick = ex.insts[BTC].inst.tickSz
    pairs = []
    prev_mid = ex.markets[BTC].mid
    for _ in range(3000):
        m = ex.markets[BTC]
        bid_sz = sum(lv[1] for lv in m.bids[:5])
        ask_sz = sum(lv[1] for lv in m.asks[:5])
        imb = (bid_sz - ask_sz) / (bid_sz + ask_sz)
        mkt.step()
        m = ex.markets[BTC]
        assert m.best_bid is not None and m.best_ask is not None
        assert m.best_bid < m.best_ask and (m.best_ask - m.best_bid) / tick <= 4
        assert all(m.bids[i][0] > m.bids[i + 1][0] for i in range(len(m.bids) - 1))
        assert all(m.asks[i][0] < m.asks[i + 1][0] for i in range(len(m.asks) - 1))
        mid = m.mid
        assert mid is not None and prev_mid is not None
        pairs.append((float(imb), float(mid - prev_mid)))
        prev_mid = mid
    n = len(pairs)
    mx = sum(p[0] for p in pairs) / n
    my = sum(p[1] for p in pairs) / n
    cov = sum((x - mx) * (y - my) for x, y in pairs)
    vx = sum((x - mx) ** 2 for x, _ in pairs)
    vy = sum((y - my) ** 2 for _, y in pairs)
    corr = cov / (vx * vy) ** 0.5
    assert 0.15 < corr < 0.9  # order-flow imbalance partly predicts the next move
    assert ex.markets[BTC].vol24h > 0  # trades printed


def test_resting_orders_fill_under_synthetic_flow() -> None:
    ex = Exchange(seed=2, clock=Clock())
    mkt = SyntheticMarket(ex, seed=2)
    bid = ex.markets[BTC].best_bid
    assert bid is not None
    r = ex.place_order(o(ord_type="post_only", px=str(bid), sz="5"))
    for _ in range(400):
        mkt.step()
        if ex.orders[r["ordId"]].state == "filled":
            break
    od = ex.orders[r["ordId"]]
    assert od.accFillSz > 0 and pos(ex) == od.accFillSz
    fills = ex.fills_view({"ordId": r["ordId"]})
    assert all(f["execType"] == "M" and D(f["fillPx"]) == bid for f in fills)


def test_replay_jsonl(tmp_path: Path) -> None:
    arg = {"channel": "books", "instId": BTC}
    lines = [
        {
            "arg": arg,
            "action": "snapshot",
            "data": [
                {
                    "asks": [["50001.0", "3", "0", "1"], ["50002.0", "4", "0", "1"]],
                    "bids": [["50000.0", "2", "0", "1"]],
                    "ts": "1700000000000",
                    "seqId": 1,
                    "prevSeqId": -1,
                }
            ],
        },
        {
            "arg": arg,
            "action": "update",
            "data": [
                {
                    "asks": [["50001.0", "0", "0", "0"]],
                    "bids": [["50000.5", "1", "0", "1"]],
                    "ts": "1700000000100",
                    "seqId": 2,
                    "prevSeqId": 1,
                }
            ],
        },
        {
            "arg": {"channel": "trades", "instId": BTC},
            "data": [
                {
                    "instId": BTC,
                    "px": "50000.5",
                    "sz": "0.5",
                    "side": "sell",
                    "tradeId": "1",
                    "ts": "1700000000200",
                }
            ],
        },
        {
            "arg": {"channel": "mark-price", "instId": BTC},
            "data": [{"markPx": "50000.7", "ts": "1700000000300"}],
        },
        {
            "arg": {"channel": "tickers", "instId": "ETH-USDT-SWAP"},
            "data": [
                {"bidPx": "3000", "bidSz": "1", "askPx": "3000.01", "askSz": "2", "ts": "1700000000300"}
            ],
        },
        {"event": "subscribe", "arg": arg},
    ]
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    ex = Exchange(seed=1, clock=Clock())
    r = ex.place_order(o(ord_type="limit", px="50000.6", sz="0.2"))  # rests above the replayed bid
    assert ex.orders[r["ordId"]].state == "live"
    assert Replay(ex).run(read_jsonl(path)) == 5
    m = ex.markets[BTC]
    assert m.best_ask == D("50002.0") and m.best_bid == D("50000.5") and m.mark == D("50000.7")
    assert m.last == D("50000.5")
    assert ex.orders[r["ordId"]].state == "filled"  # the replayed sell traded through it
    assert ex.markets["ETH-USDT-SWAP"].best_bid == D("3000")
