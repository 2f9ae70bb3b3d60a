"""Property test of the order-update Lua script (rule 2, docs/DESIGN_RULES.md) against a real Redis.

An order's true lifecycle (sent, live, partial fills with avgPx, then filled / canceled / rejected)
is turned into the updates the exchange would report; any permutation of them, with duplicates,
must end in the same record as in-order application, emit each fill exactly once, never lower the
rank, and account for every unit of notional exactly.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from decimal import Decimal

import pytest
import redis as redis_lib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from athena.domain import D, Order, OrderRequest, OrderState, OrderUpdate, OrdType, PosSide, Side
from athena.state import Keys, OrderStore
from athena.state.orders import EXTRA_PX_DIGITS

LOT = D("0.01")
TICK = D("0.1")
FEE_RATE = D("-0.0002")
_ids = itertools.count()


@dataclass(frozen=True)
class Lifecycle:
    sz_lots: int
    fills: tuple[tuple[int, Decimal], ...]  # (lots, px) in true order
    outcome: OrderState
    side: Side
    external: bool  # placed outside Athena: no create(), the first update records it


@st.composite
def lifecycles(draw: st.DrawFn, exact: bool = True) -> Lifecycle:
    outcome = draw(st.sampled_from([OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED]))
    sizes: list[int] = (
        []
        if outcome is OrderState.REJECTED
        else draw(st.lists(st.integers(1, 4), min_size=1 if outcome is OrderState.FILLED else 0, max_size=5))
    )
    total = sum(sizes)
    sz_lots = total if outcome is OrderState.FILLED else total + draw(st.integers(1, 3))
    # Prices base + M*k*tick with M divisible by every possible run of lots, so that every fill
    # delta's px, and every avgPx, is an exact decimal: the notional check below can be exact.
    m = math.lcm(*range(1, max(total, 1) + 1)) if exact else 1
    base = D("50000.0") + draw(st.integers(-500, 500)) * TICK
    spread = 3 if exact else 300
    fills = tuple((n, base + m * draw(st.integers(-spread, spread)) * TICK) for n in sizes)
    return Lifecycle(sz_lots, fills, outcome, draw(st.sampled_from(list(Side))), draw(st.booleans()))


def updates_of(lc: Lifecycle, cl: str) -> list[OrderUpdate]:
    common = {
        "clOrdId": cl,
        "instId": "BTC-USDT-SWAP",
        "side": lc.side,
        "posSide": PosSide.NET,
        "sz": lc.sz_lots * LOT,
        "px": D("50000.0"),
        "ordType": OrdType.LIMIT,
    }
    out = [OrderUpdate(state=OrderState.SENT, uTime=1, source="local", **common)]  # type: ignore[arg-type]
    if lc.outcome is OrderState.REJECTED:
        return [
            *out,
            OrderUpdate(state=OrderState.REJECTED, sCode="51008", uTime=2, source="rest_ack", **common),
        ]  # type: ignore[arg-type]
    out.append(
        OrderUpdate(
            state=OrderState.LIVE,
            ordId="777",
            accFillSz=D(0),
            avgPx=D(0),
            fee=D(0),
            uTime=2,
            source="ws",
            **common,
        )
    )  # type: ignore[arg-type]
    acc_lots, notional = 0, D(0)
    for i, (lots, px) in enumerate(lc.fills):
        acc_lots += lots
        notional += lots * LOT * px
        acc = acc_lots * LOT
        state = OrderState.FILLED if acc_lots == lc.sz_lots else OrderState.PARTIALLY_FILLED
        out.append(
            OrderUpdate(
                state=state,
                ordId="777",
                accFillSz=acc,
                avgPx=notional / acc,
                fillSz=lots * LOT,
                fillPx=px,
                tradeId=f"t{i}",
                fee=notional * FEE_RATE,
                uTime=3 + i,
                source="ws",
                **common,  # type: ignore[arg-type]
            )
        )
    if lc.outcome is OrderState.CANCELED:
        last = out[-1]
        out.append(
            replace(
                last,
                state=OrderState.CANCELED,
                fillSz=None,
                fillPx=None,
                tradeId=None,
                uTime=3 + len(lc.fills),
            )
        )
    return out


def run(
    store: OrderStore, lc: Lifecycle, cl: str, updates: list[OrderUpdate]
) -> tuple[Order, list[tuple[Decimal, Decimal]]]:
    if not lc.external:
        req = OrderRequest(
            clOrdId=cl,
            instId="BTC-USDT-SWAP",
            side=lc.side,
            ordType=OrdType.LIMIT,
            sz=lc.sz_lots * LOT,
            px=D("50000.0"),
        )
        assert store.create(Order(req=req))
    fills: list[tuple[Decimal, Decimal]] = []
    rank = -1
    for u in updates:
        t = store.apply(u)
        assert t.state.rank >= rank, "rank went down"
        rank = t.state.rank
        assert t.order.state is t.state
        if t.filled:
            assert t.fill_px is not None
            fills.append((t.fill_sz, t.fill_px))
        else:
            assert t.fill_sz == 0 and t.fill_px is None
    order = store.get(cl)
    assert order is not None
    return order, fills


def _same(a: Order, b: Order) -> None:
    assert replace(a, req=replace(a.req, clOrdId="x")) == replace(b, req=replace(b.req, clOrdId="x"))


@pytest.fixture(scope="module")
def store(redis_url: str) -> OrderStore:
    return OrderStore(redis_lib.Redis.from_url(redis_url), Keys("prop", "acct"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lc=lifecycles(), data=st.data())
def test_any_arrival_order_gives_the_same_order_and_each_fill_once(
    store: OrderStore, lc: Lifecycle, data: st.DataObject
) -> None:
    n = next(_ids)
    ref_cl, cl = f"ref{n}", f"perm{n}"
    ref_updates = updates_of(lc, ref_cl)
    ref, ref_fills = run(store, lc, ref_cl, ref_updates)
    # in order, the emitted fills are exactly the true fills
    assert ref_fills == [(lots * LOT, px) for lots, px in lc.fills]
    assert ref.state is lc.outcome

    updates = updates_of(lc, cl)
    order = data.draw(st.permutations(range(len(updates))))
    dups = data.draw(
        st.lists(st.tuples(st.integers(0, len(updates)), st.sampled_from(range(len(updates)))), max_size=6)
    )
    seq = list(order)
    for pos, idx in dups:
        seq.insert(pos, idx)
    final, fills = run(store, lc, cl, [updates[i] for i in seq])

    _same(final, ref)
    assert sum((f[0] for f in fills), D(0)) == final.accFillSz  # each unit of fill emitted once
    assert len(fills) <= len(lc.fills)
    if final.accFillSz:
        assert final.avgPx is not None
        assert sum((sz * px for sz, px in fills), D(0)) == final.accFillSz * final.avgPx  # exact
    working = {o.clOrdId for o in store.working()}
    assert cl not in working and ref_cl not in working  # every lifecycle ends terminal
    assert store.by_ord_id("777") is not None or lc.outcome is OrderState.REJECTED


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lc=lifecycles(exact=False), data=st.data())
def test_any_prices_stay_consistent_within_rounding(
    store: OrderStore, lc: Lifecycle, data: st.DataObject
) -> None:
    """With any prices, avgPx is rounded (as OKX's is) and a delta's px may not be a finite decimal:
    the state is still order-independent and the notional is off by rounding only."""
    n = next(_ids)
    ref, _ = run(store, lc, f"aref{n}", updates_of(lc, f"aref{n}"))
    updates = updates_of(lc, f"aperm{n}")
    order = data.draw(st.permutations(range(len(updates))))
    final, fills = run(store, lc, f"aperm{n}", [updates[i] for i in order + order[:2]])
    _same(final, ref)
    assert sum((f[0] for f in fills), D(0)) == final.accFillSz
    if final.accFillSz:
        assert final.avgPx is not None
        gap = abs(sum((sz * px for sz, px in fills), D(0)) - final.accFillSz * final.avgPx)
        # each inexact delta px is rounded half-even to EXTRA_PX_DIGITS beyond the coarsest avgPx
        # exponent involved, so a fill's notional is off by at most fillSz * quantum / 2
        exp = max(int(u.avgPx.as_tuple().exponent) for u in updates if u.avgPx is not None and u.accFillSz)
        quantum = D(1).scaleb(exp - EXTRA_PX_DIGITS)
        assert gap <= final.accFillSz * quantum / 2
        assert all(D("49000") < px < D("51000") for _, px in fills)  # sane prices, no blow-ups
