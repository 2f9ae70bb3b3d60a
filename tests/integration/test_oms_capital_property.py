"""Property: over random sequences of reserve / fill (partial, replayed) / release (duplicated), against a
real Redis, every reservation is released exactly once in total — never more, never less — and the
strategy's reserved sum always equals what the open reservations still hold."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_DOWN
from decimal import Decimal as D
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from athena.config import Settings, StrategySettings
from athena.domain import Fill, Instrument, PosSide, Side
from athena.oms.capital import CapitalCommander
from athena.state.keys import Keys

BTC = Instrument("BTC-USDT-SWAP", ctVal=D("0.01"), lotSz=D("0.01"), tickSz=D("0.1"), minSz=D("0.01"))
SETTINGS = Settings(
    total_capital=D(10**9),
    strategies=[StrategySettings(name="alpha", instIds=["BTC-USDT-SWAP"], allocation=D(1))],
)
N_ORDERS = 4

Op = tuple[str, int, int, int]
ops = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), st.integers(0, N_ORDERS - 1), st.integers(1, 10**6), st.integers(1, 7)),
        st.tuples(st.just("fill"), st.integers(0, N_ORDERS - 1), st.integers(1, 4), st.just(0)),
        st.tuples(st.just("replay"), st.integers(0, N_ORDERS - 1), st.just(0), st.just(0)),
        st.tuples(st.just("release"), st.integers(0, N_ORDERS - 1), st.just(0), st.just(0)),
        st.tuples(st.just("release_twice"), st.integers(0, N_ORDERS - 1), st.just(0), st.just(0)),
    ),
    max_size=30,
)


@dataclass
class Model:
    margin: D
    sz: D
    acc: D = D(0)
    released: D = D(0)
    closed: bool = False
    paid: D = D(0)  # what the commander actually returned as released, summed


@pytest.fixture(scope="module")
def client(redis_url: str) -> Iterator[Any]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _fill(cl: str, acc: D, step: D) -> Fill:
    return Fill(cl, BTC.instId, Side.BUY, PosSide.NET, step, D(100), acc, fee=D("-0.01"), strategy="alpha")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seq=ops)
def test_reservations_released_exactly_once(client: Any, seq: list[Op]) -> None:
    keys = Keys("test", f"p{uuid.uuid4().hex[:12]}")
    cap = CapitalCommander(client, keys, SETTINGS)
    model: dict[str, Model] = {}
    last: dict[str, tuple[D, D]] = {}  # last fill (acc, step) per order, for replays
    try:
        for op, i, a, b in seq:
            cl = f"c{i}"
            m = model.get(cl)
            if op == "reserve":
                r = cap.reserve("alpha", cl, D(a) / 100, sz=D(b))
                if m is None:
                    assert r.ok and r.code == "reserved"
                    model[cl] = Model(D(a) / 100, D(b))
                else:
                    assert r.code == ("released" if m.closed else "duplicate")
            elif op == "fill" and m is not None and m.acc < m.sz:
                step = min(D(a), m.sz - m.acc)
                m.acc += step
                last[cl] = (m.acc, step)
                got = cap.on_fill(_fill(cl, m.acc, step), BTC)
                assert got.applied
                expected = D(0)
                if not m.closed:
                    target = (
                        m.margin
                        if m.acc >= m.sz
                        else (m.margin * m.acc / m.sz).quantize(D("1e-8"), ROUND_DOWN)
                    )
                    expected = target - m.released
                    m.released, m.closed = target, m.acc >= m.sz
                assert got.released == expected
                m.paid += got.released
            elif op == "replay" and cl in last:
                assert not cap.on_fill(_fill(cl, *last[cl]), BTC).applied
            elif op in ("release", "release_twice"):
                for _ in range(2 if op == "release_twice" else 1):
                    got = cap.release(cl)
                    expected = D(0) if m is None or m.closed else m.margin - m.released
                    assert got == expected
                    if m is not None:
                        m.paid += got
                        m.released, m.closed = m.margin, True
            held = sum((x.margin - x.released for x in model.values() if not x.closed), D(0))
            assert cap.reserved("alpha") == held >= 0
            assert all(x.paid <= x.margin for x in model.values())
        for cl, m in model.items():
            m.paid += cap.release(cl)
            assert m.paid == m.margin  # released in full, exactly once
        assert cap.reserved("alpha") == 0 and cap.open_reservations() == []
    finally:
        stale = list(client.scan_iter(match=keys.prefix + "*", count=500))
        if stale:
            client.delete(*stale)
