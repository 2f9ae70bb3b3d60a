from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from athena.okx.book import LocalBook
from tests.okx.samples import load


def lv(px: str, sz: str) -> list[str]:
    return [px, sz, "0", "1"]


def test_snapshot_then_update_from_samples() -> None:
    snap = load("nautilus_ws_books_snapshot.json")["data"][0]
    upd = load("nautilus_ws_books_update.json")["data"][0]
    book = LocalBook("BTC-USDT", depth=5)
    book.snapshot(snap)
    top = book.top()
    assert book.valid and top.seqId == 123456 and len(top.bids) == 5 and len(top.asks) == 5
    assert top.best_bid.px == Decimal("8476.97") and top.best_ask.px == Decimal("8476.98")
    assert [lv.px for lv in top.bids] == sorted((lv.px for lv in top.bids), reverse=True)
    assert book.update(upd) and book.seqId == 123457


def test_gap_invalidates_and_keepalive_is_fine() -> None:
    book = LocalBook("X")
    book.snapshot({"bids": [lv("10", "1")], "asks": [lv("11", "1")], "ts": "1", "seqId": 5, "prevSeqId": -1})
    assert book.update({"bids": [], "asks": [], "ts": "2", "seqId": 5, "prevSeqId": 5})  # keep-alive
    assert book.update(
        {"bids": [lv("10", "0"), lv("9", "2")], "asks": [], "ts": "3", "seqId": 6, "prevSeqId": 5}
    )
    assert book.top().best_bid.px == Decimal(9)
    assert book.update(
        {"bids": [], "asks": [], "ts": "3", "seqId": 2, "prevSeqId": 6}
    )  # seq reset after maintenance
    assert not book.update(
        {"bids": [], "asks": [lv("12", "1")], "ts": "4", "seqId": 9, "prevSeqId": 7}
    )  # gap
    assert not book.valid
    assert not book.update({"bids": [], "asks": [], "ts": "5", "seqId": 10, "prevSeqId": 9})  # stays invalid
    book.snapshot({"bids": [lv("1", "1")], "asks": [], "ts": "6", "seqId": 20, "prevSeqId": -1})
    assert book.valid and book.top().asks == ()


level_ops = st.lists(
    st.tuples(st.booleans(), st.integers(1, 30), st.integers(0, 3)),  # (is_bid, px, sz 0 = delete)
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(level_ops, min_size=1, max_size=8))
def test_book_matches_a_naive_model(batches: list[list[tuple[bool, int, int]]]) -> None:
    book = LocalBook("X", depth=5)
    book.snapshot({"bids": [], "asks": [], "ts": "0", "seqId": 0, "prevSeqId": -1})
    model: dict[bool, dict[Decimal, Decimal]] = {True: {}, False: {}}
    for seq, ops in enumerate(batches, start=1):
        upd: dict[str, Any] = {"bids": [], "asks": [], "ts": str(seq), "seqId": seq, "prevSeqId": seq - 1}
        for is_bid, px, sz in ops:
            upd["bids" if is_bid else "asks"].append(lv(str(px), str(sz)))
            side = model[is_bid]
            if sz == 0:
                side.pop(Decimal(px), None)
            else:
                side[Decimal(px)] = Decimal(sz)
        assert book.update(upd)
        top = book.top()
        assert [(x.px, x.sz) for x in top.bids] == sorted(model[True].items(), reverse=True)[:5]
        assert [(x.px, x.sz) for x in top.asks] == sorted(model[False].items())[:5]
