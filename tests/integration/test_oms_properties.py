"""Property tests over a real Redis: random interleavings of acks, WS pushes, REST syncs,
duplicates and partial fills, delivered to two OMS processes sharing one Redis — and to processes
that die right after the Lua commit, before emitting anything (the fill outbox then emits it).

After every report: each fill is counted once, no order's state goes backwards, the published
fills plus the outbox's pending deltas equal accFillSz, the ledger equals the sum of the fills,
every entry's requested stop equals its filled size (once its outbox is drained), and margin
reservations hold exactly what is unfilled; at the end every reservation was released exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from athena.bus import EventType
from athena.config import Settings, StrategySettings
from athena.domain import Fill, OrderState, OrderUpdate, Position, PosSide, Side
from athena.oms.capital import CapitalCommander
from athena.oms.stops import stop_id_for
from athena.wiring import book_capital
from tests.integration.oms_harness import BTC, INST, Oms, entry, exit_, make_oms, upd

CAPITAL = Settings(
    total_capital=Decimal(10**9),
    strategies=[StrategySettings(name="s1", instIds=[INST], allocation=Decimal(1))],
)
MARGIN_PER_LOT = Decimal("7.5")


def with_capital(o: Oms) -> Oms:
    """The capital side effects, wired as every role wires them (athena.wiring):
    fills book, cancels release."""
    book_capital(o.bus, CapitalCommander(o.redis, o.keys, CAPITAL), {INST: BTC})
    return o


def crash(o: Oms, update: OrderUpdate) -> None:
    """A process commits the transition (outbox on, as OrderManager does) and dies before emitting;
    its claim is gone (expired)."""
    t = o.store.apply(o.om.resolve(update), outbox=True, claim="dead", claim_ttl_s=60)
    if t.outbox is not None:
        o.redis.delete(o.keys.outbox_claim(t.outbox.id))


@dataclass(frozen=True)
class Plan:
    cl: str
    is_entry: bool
    side: Side
    fills: tuple[int, ...]  # lots per fill, in exchange order
    prices: tuple[int, ...]
    extra: int  # unfilled remainder
    cancel: bool
    pos_side: PosSide = PosSide.NET

    @property
    def filled(self) -> Decimal:
        return Decimal(sum(self.fills))

    @property
    def sz(self) -> Decimal:
        return self.filled + self.extra


@st.composite
def plans(draw: st.DrawFn) -> list[Plan]:
    out = []
    hedge = draw(st.booleans())  # long/short position mode: entries and exits by posSide
    for i in range(draw(st.integers(1, 3))):
        fills = tuple(draw(st.lists(st.integers(1, 4), max_size=4)))
        prices = tuple(draw(st.lists(st.integers(90, 110), min_size=len(fills), max_size=len(fills))))
        extra = draw(st.integers(0 if fills else 1, 2))
        is_entry, side = draw(st.booleans()), draw(st.sampled_from(list(Side)))
        pos_side = (
            PosSide.NET if not hedge else PosSide.LONG if is_entry == (side is Side.BUY) else PosSide.SHORT
        )
        out.append(
            Plan(f"o{i}", is_entry, side, fills, prices, extra, extra > 0 and draw(st.booleans()), pos_side)
        )
    return out


def reports(p: Plan, ord_id: str) -> list[OrderUpdate]:
    """Everything the exchange may say about one order (each at least once)."""
    out = [upd(p.cl, OrderState.LIVE, "0", ord_id=ord_id, source="rest_ack")]
    acc, notional = Decimal(0), Decimal(0)
    for k, (lots, px) in enumerate(zip(p.fills, p.prices, strict=True)):
        acc += lots
        notional += lots * px
        last = k == len(p.fills) - 1 and p.extra == 0
        state = OrderState.FILLED if last else OrderState.PARTIALLY_FILLED
        avg = str(notional / acc)
        out.append(upd(p.cl, state, str(acc), avg, str(lots), str(px), ord_id, f"{p.cl}t{k}"))
        out.append(upd(p.cl, state, str(acc), avg, ord_id=ord_id, source="sync"))  # a REST query
    if p.cancel:
        final_avg = str(notional / acc) if acc else None
        out.append(upd(p.cl, OrderState.CANCELED, str(acc), final_avg, ord_id=ord_id, source="rest_query"))
    return out


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), scenario=plans())
def test_random_interleavings_keep_every_invariant(
    redis_url: str, data: st.DataObject, scenario: list[Plan]
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        a, b = with_capital(make_oms(client)), with_capital(make_oms(client))  # two processes, one Redis
        cap = CapitalCommander(client, a.keys, CAPITAL)
        by_cl = {p.cl: p for p in scenario}
        events: list[OrderUpdate] = []
        for n, p in enumerate(scenario):
            make = entry if p.is_entry else exit_
            req = make(p.cl, side=p.side, sz=str(p.sz), pos_side=p.pos_side)
            if p.is_entry:
                assert cap.reserve("s1", p.cl, MARGIN_PER_LOT * p.sz, sz=p.sz).ok
            a.om.submit(req)
            events += reports(p, str(1000 + n))
        dups = data.draw(st.lists(st.sampled_from(events), max_size=8), label="duplicates")
        order = data.draw(st.permutations(events + dups), label="interleaving")
        # 0: process a, 1: process b, 2: a process that dies right after the Lua commit
        route = data.draw(
            st.lists(st.sampled_from([0, 0, 1, 1, 2]), min_size=len(order), max_size=len(order)),
            label="route",
        )
        ranks = {p.cl: 0 for p in scenario}
        for ev, to in zip(order, route, strict=True):
            if to == 2:
                crash(a, ev)
            else:
                (b if to else a).om.on_update(ev)
            check(a, b, by_cl, ranks, cap)
        # start-up of a fresh process: it drains whatever the dead ones left, exactly once
        c = with_capital(make_oms(client))
        c.om.recover_outbox()
        assert c.om.recover_outbox() == 0 and a.store.outbox_length() == 0
        check(a, b, by_cl, ranks, cap, c)
        # the end: the exchange holds exactly the sum of all fills; the ledger agrees, no correction
        totals = {
            ps: sum((p.filled * p.side.sign for p in scenario if p.pos_side is ps), Decimal(0))
            for ps in PosSide
        }
        if totals[PosSide.LONG] >= 0 >= totals[PosSide.SHORT]:  # else not a position OKX could hold
            exchange = [
                Position(INST, ps, abs(t) if ps is PosSide.SHORT else t, Decimal(100))
                for ps, t in totals.items()
                if t
            ]
            assert a.pm.reconcile(exchange) == []
        for p in scenario:
            o = a.om.get(p.cl)
            assert o is not None and o.accFillSz == p.filled
            want = (
                OrderState.CANCELED
                if p.cancel
                else (
                    OrderState.FILLED
                    if p.extra == 0
                    else OrderState.PARTIALLY_FILLED
                    if p.fills
                    else OrderState.LIVE
                )
            )
            assert o.state is want
            cancelled = [
                x for h in (a, b, c) for x in h.events[EventType.ORDER_CANCELLED] if x.clOrdId == p.cl
            ]
            assert len(cancelled) == (1 if p.cancel else 0)
            if p.is_entry:  # released exactly once: in full iff the order is done, never more
                res = cap.reservation(p.cl)
                margin = MARGIN_PER_LOT * p.sz
                assert Decimal(res["margin"]) == margin
                if o.state.is_terminal:
                    assert res["closed"] == "1" and Decimal(res["released"]) == margin
                else:
                    assert res["closed"] == "0" and p.cl in cap.open_reservations()
    finally:
        client.close()


def check(
    a: Oms, b: Oms, by_cl: dict[str, Plan], ranks: dict[str, int], cap: CapitalCommander, c: Oms | None = None
) -> None:
    procs = (a, b) if c is None else (a, b, c)
    fills = [f for h in procs for f in h.fills()]
    assert len({f.fill_key for f in fills}) == len(fills)  # each fill once, across every process
    pending = a.store.outbox()  # committed, not emitted yet (its process died)
    held = Decimal(0)
    for cl, p in by_cl.items():
        o = a.om.get(cl)
        assert o is not None
        assert o.state.rank >= ranks[cl]  # no regression
        ranks[cl] = o.state.rank
        mine = [f for f in fills if f.clOrdId == cl]
        waiting = [e for e in pending if e.clOrdId == cl]
        assert (
            sum((f.fillSz for f in mine), Decimal(0)) + sum((e.fill_sz for e in waiting), Decimal(0))
            == o.accFillSz
        )
        notional = sum((f.fillSz * f.fillPx for f in mine), Decimal(0))
        if o.avgPx is not None and not waiting:
            # fill px are exact, or rounded 8 digits beyond avgPx's precision (OrderStore.delta_px)
            assert abs(notional - o.accFillSz * o.avgPx) <= o.accFillSz * Decimal("1e-8")
        sid = stop_id_for(cl)
        asked = [s for s in (h.sender.stop_size(sid) for h in procs) if s is not None]
        if p.is_entry and o.accFillSz > 0 and not waiting:
            assert max(asked) == o.accFillSz  # the stop covers exactly what filled
            rec = a.algos.get(sid)
            assert rec is not None and rec.sz == o.accFillSz and rec.side is p.side.opposite
            assert rec.posSide is p.pos_side
        elif p.is_entry:
            assert all(s <= o.accFillSz for s in asked)  # never more than filled
        else:
            assert asked == []
        if p.is_entry:
            booked = sum((f.fillSz for f in mine), Decimal(0))
            done = o.state.is_terminal and not waiting
            margin = MARGIN_PER_LOT * p.sz
            if not done and booked < p.sz:
                held += margin - (margin * booked / p.sz).quantize(Decimal("1e-8"), ROUND_DOWN)
    assert cap.reserved("s1") == held
    for ps in PosSide:
        assert a.pm.expected(INST, ps).sz == sum((f.signed_sz for f in fills if f.posSide is ps), Decimal(0))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fills=st.lists(
        st.tuples(st.sampled_from(list(Side)), st.integers(1, 300), st.integers(90, 110)), max_size=12
    ),
    exchange_lots=st.integers(-400, 400),
    dup=st.integers(0, 11),
)
def test_reconcile_converges_to_the_exchange(
    redis_url: str, fills: list[tuple[Side, int, int]], exchange_lots: int, dup: int
) -> None:
    """Whatever the ledger holds, one reconcile reports the difference and identical snapshots
    settle_ms apart always leave the ledger equal to the exchange; with no difference nothing is reported."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        o = make_oms(client)
        lot = Decimal("0.01")
        booked = Decimal(0)
        for n, (side, lots, px) in enumerate(fills):
            f = Fill(f"f{n}", INST, side, PosSide.NET, lots * lot, Decimal(px), lots * lot)
            o.pm.on_fill(f)
            booked += f.signed_sz
            if n == dup:
                assert o.pm.on_fill(f) is False
        assert o.pm.expected(INST).sz == booked
        exch = exchange_lots * lot
        snapshot = [Position(INST, PosSide.NET, exch, Decimal(100))] if exch else []
        first = o.pm.reconcile(snapshot)
        assert [d.diff for d in first] == ([exch - booked] if exch != booked else [])
        o.clock.now += 1
        o.pm.reconcile(snapshot)  # seen again before settle_ms: still possibly a fill in flight
        o.clock.now += o.pm.settle_ms / 1000
        o.pm.reconcile(snapshot)
        assert o.pm.expected(INST).sz == exch
        assert o.pm.reconcile(snapshot) == []
        corrections = [e for e in o.events[EventType.ERROR] if e["kind"] == "ledger_drift"]
        assert len(corrections) == (1 if exch != booked else 0)
    finally:
        client.close()
