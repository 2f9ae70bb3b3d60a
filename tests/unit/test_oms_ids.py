"""clOrdId derivation, ledger average-price math, and the RecordingSender."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from athena.domain import OrderRequest, OrdType, Side, valid_cl_ord_id
from athena.oms.orders import inst_code, new_cl_ord_id
from athena.oms.positions import closing_side, next_avg
from athena.oms.sender import OrderSender, RecordingSender, SendFailed
from athena.oms.stops import StopRequest


def test_cl_ord_id_is_deterministic_readable_and_valid() -> None:
    assert inst_code("BTC-USDT-SWAP") == "BTCUSDT"
    assert new_cl_ord_id("scalp1", 42, "BTC-USDT-SWAP") == "scalp1BTCUSDT42"
    assert new_cl_ord_id("scalp1", 42, "BTC-USDT-SWAP") == new_cl_ord_id("scalp1", "42", "BTC-USDT-SWAP")
    assert new_cl_ord_id("scalp1", 42, "ETH-USDT-SWAP") != new_cl_ord_id("scalp1", 42, "BTC-USDT-SWAP")
    with pytest.raises(ValueError):
        new_cl_ord_id("", 1)


def test_cl_ord_id_without_instrument_and_at_the_length_limit() -> None:
    assert new_cl_ord_id("scalp1", 42) == "scalp142"  # no instrument: no code in the id
    at_limit = new_cl_ord_id("a" * 21, 12, "BTC-USDT-SWAP")  # 21 + 7 + 2 = 30: still readable
    assert at_limit == "a" * 21 + "BTCUSDT12"


def test_a_too_long_cl_ord_id_is_the_strategy_prefix_and_a_pinned_digest() -> None:
    """The same intent must map to the same id across versions too (an order redelivered after an
    upgrade finds its record), so the digest form is pinned, not only its shape."""
    assert new_cl_ord_id("a" * 21, 123, "BTC-USDT-SWAP") == "aaaaaaaaaaaah3172616385d98d250"
    assert new_cl_ord_id("trendfollower2", 12345678901234567890, "BTC-USDT-SWAP") == (
        "trendfollowehaffd4d32a74f8cd03"
    )


@given(
    strategy=st.text(alphabet="abcXYZ0189", min_size=1, max_size=12),
    seq=st.integers(min_value=0, max_value=10**30),
    inst=st.sampled_from(["BTC-USDT-SWAP", "ETH-USDT-SWAP", "DOGE-USDT-SWAP", "1000PEPE-USDT-SWAP"]),
)
def test_cl_ord_id_always_valid_and_stable(strategy: str, seq: int, inst: str) -> None:
    cl = new_cl_ord_id(strategy, seq, inst)
    assert valid_cl_ord_id(cl) and len(cl) <= 30
    assert cl == new_cl_ord_id(strategy, seq, inst)
    assert new_cl_ord_id(strategy, seq + 1, inst) != cl


@pytest.mark.parametrize(
    ("sz0", "avg0", "delta", "px", "expected"),
    [
        ("0", None, "2", "100", "100"),
        ("2", "100", "2", "110", "105"),
        ("2", "100", "-1", "130", "100"),  # reducing keeps the entry
        ("2", "100", "-2", "130", None),  # flat
        ("2", "100", "-5", "90", "90"),  # flipped: the remainder opened at px
        ("-3", "50", "-1", "54", "51"),
        ("2", None, "1", "100", None),  # unknown stays unknown
    ],
)
def test_next_avg(sz0: str, avg0: str | None, delta: str, px: str, expected: str | None) -> None:
    got = next_avg(Decimal(sz0), None if avg0 is None else Decimal(avg0), Decimal(delta), Decimal(px))
    assert got == (None if expected is None else Decimal(expected))


def test_closing_side() -> None:
    assert closing_side(Decimal("1")) is Side.SELL and closing_side(Decimal("-1")) is Side.BUY


def test_recording_sender_records_and_fails_on_demand() -> None:
    sender = RecordingSender()
    assert isinstance(sender, OrderSender)
    r = OrderRequest("a1", "BTC-USDT-SWAP", Side.BUY, OrdType.MARKET, Decimal("1"), stop_loss_px=Decimal("9"))
    sender.send_order(r)
    sender.fail_next = 1
    with pytest.raises(SendFailed):
        sender.send_order(r)
    sender.send_order(r)
    assert sender.sent_ids() == ["a1", "a1"]
    s1, s2 = StopRequest.for_entry(r, Decimal("1")), StopRequest.for_entry(r, Decimal("2"))
    sender.send_stop(s2)
    sender.send_stop(s1)
    assert sender.latest_stop(s1.algoClOrdId) == s1
    assert sender.stop_size(s1.algoClOrdId) == Decimal("2")  # never shrinks
    assert sender.stop_size("nope") is None
    sender.send_cancel("BTC-USDT-SWAP", "a1")
    sender.send_cancel_stop("BTC-USDT-SWAP", s1.algoClOrdId)
    assert sender.cancels == [("BTC-USDT-SWAP", "a1")] and sender.stop_cancels == [
        ("BTC-USDT-SWAP", s1.algoClOrdId)
    ]
