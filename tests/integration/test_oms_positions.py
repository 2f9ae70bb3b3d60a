"""PositionManager over a real Redis: ledger from fills, reconcile (exchange wins), ghosts, protection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from redis import Redis

from athena import alerts
from athena.alerts import events as alert_events
from athena.alerts.events import Alert
from athena.alerts.notifier import Notifier
from athena.bus import EventType
from athena.domain import AlgoOrder, Fill, Order, OrderState, Position, PosSide, Side, TdMode
from athena.oms import positions
from athena.oms.positions import LedgerEntry
from athena.oms.stops import StopRequest
from athena.state.journal import Journal
from tests.integration.oms_harness import INST, entry, exit_, make_oms


def fill(cl: str, side: Side, sz: str, px: str, acc: str, pos_side: PosSide = PosSide.NET) -> Fill:
    return Fill(cl, INST, side, pos_side, Decimal(sz), Decimal(px), Decimal(acc))


def pos(sz: str, pos_side: PosSide = PosSide.NET, avg: str | None = "100", u_time: int = 1) -> Position:
    return Position(INST, pos_side, Decimal(sz), None if avg is None else Decimal(avg), uTime=u_time)


def test_ledger_books_each_fill_once_and_survives_restart(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    f1, f2 = fill("a", Side.BUY, "2", "100", "2"), fill("a", Side.BUY, "2", "110", "4")
    assert o.pm.on_fill(f1) is True and o.pm.on_fill(f1) is False
    o.bus.publish(EventType.ORDER_FILLED, f2)
    o.bus.publish(EventType.ORDER_FILLED, f2)
    e = o.pm.expected(INST)
    assert (e.sz, e.avgPx) == (Decimal(4), Decimal(105))
    o.pm.on_fill(fill("b", Side.SELL, "4", "120", "4"))
    restarted = make_oms(redis_client)
    flat = restarted.pm.expected(INST)
    assert flat.sz == 0 and flat.avgPx is None
    assert set(restarted.pm.ledger()) == {(INST, PosSide.NET)}


def test_ledger_long_short_mode_is_signed(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.pm.on_fill(fill("l", Side.BUY, "3", "100", "3", PosSide.LONG))
    o.pm.on_fill(fill("s", Side.SELL, "2", "100", "2", PosSide.SHORT))
    o.pm.on_fill(fill("s2", Side.BUY, "1", "90", "1", PosSide.SHORT))
    assert o.pm.expected(INST, PosSide.LONG).sz == Decimal(3)
    assert o.pm.expected(INST, PosSide.SHORT).sz == Decimal(-1)
    exch = [pos("3", PosSide.LONG), pos("1", PosSide.SHORT)]  # OKX rows are positive in long/short mode
    assert o.pm.reconcile(exch) == []


def test_exchange_snapshot_keeps_newest(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    assert o.pm.on_exchange_position(pos("2", u_time=20))
    assert not o.pm.on_exchange_position(pos("1", u_time=10))  # older, late
    (snap,) = o.pm.exchange_positions()
    assert snap.pos == Decimal(2) and snap.uTime == 20 and snap.avgPx == Decimal(100)
    o.pm.on_exchange_position(pos("0", avg=None, u_time=30))
    (snap,) = o.pm.exchange_positions()
    assert snap.is_flat and snap.avgPx is None


def test_exchange_snapshot_reads_back_every_field(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    short = Position(INST, PosSide.SHORT, Decimal("1.5"), Decimal("99.5"), mgnMode=TdMode.ISOLATED, uTime=0)
    assert o.pm.on_exchange_position(short)
    assert o.pm.exchange_positions() == [short]


def settle(o) -> None:  # type: ignore[no-untyped-def]
    o.clock.now += o.pm.settle_ms / 1000


def test_reconcile_forces_a_settled_difference_and_reports(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.pm.on_fill(fill("a", Side.BUY, "1", "100", "1"))
    settle(o)  # nothing moved on either side for settle_ms: not a fill in flight
    (d,) = o.pm.reconcile([pos("1.5", avg="101")])
    assert d.corrected and d.diff == Decimal("0.5") and d.lotSz == Decimal("0.01")
    e = o.pm.expected(INST)
    assert (e.sz, e.avgPx) == (Decimal("1.5"), Decimal(101))
    (err,) = o.events[EventType.ERROR]
    assert err["kind"] == "ledger_drift" and err["exchange_sz"] == "1.5"
    assert o.pm.reconcile([pos("1.5", avg="101")]) == []


def test_reconcile_one_lot_transient_is_reported_not_forced(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.pm.on_fill(fill("a", Side.BUY, "1", "100", "1"))
    (d,) = o.pm.reconcile([pos("1.01")])  # a fill the exchange already has and we have not seen yet
    assert not d.corrected and o.pm.expected(INST).sz == Decimal(1)
    o.pm.on_fill(fill("a", Side.BUY, "0.01", "100", "1.01"))  # ... it arrives
    assert o.pm.reconcile([pos("1.01")]) == []
    assert o.events[EventType.ERROR] == []


def test_reconcile_difference_that_persists_is_forced(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.pm.on_fill(fill("a", Side.BUY, "1", "100", "1"))
    assert not o.pm.reconcile([pos("1.01")])[0].corrected
    o.clock.now += 1
    assert not o.pm.reconcile([pos("1.01")])[0].corrected  # seen again, but not for settle_ms yet
    settle(o)
    assert o.pm.reconcile([pos("1.01")])[0].corrected
    assert o.pm.expected(INST).sz == Decimal("1.01")


def test_reconcile_never_double_counts_a_fill_in_flight(redis_client: Redis) -> None:
    """Regression (found by the demo): the exchange's position already holds a fresh fill whose push
    has not arrived. Forcing the ledger then booking the push counted that fill twice."""
    o = make_oms(redis_client)
    now_ms = int(o.clock.now * 1000)
    (d,) = o.pm.reconcile([pos("-5", u_time=now_ms - 17)])  # the exchange moved 17 ms ago
    assert not d.corrected and o.pm.expected(INST).sz == 0
    o.pm.on_fill(fill("e", Side.SELL, "5", "100", "5"))  # ... the push arrives
    assert o.pm.expected(INST).sz == Decimal(-5)
    settle(o)
    assert o.pm.reconcile([pos("-5", u_time=now_ms - 17)]) == []
    assert o.events[EventType.ERROR] == []


def test_a_real_drift_under_constant_activity_is_still_corrected(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.pm.on_fill(fill("a", Side.BUY, "2", "100", "2"))  # the exchange also has 1 we never heard of
    for i in range(4):  # fills keep coming on both sides; the extra contract stays
        o.clock.now += 1
        o.pm.on_fill(fill(f"b{i}", Side.BUY, "1", "100", "1"))
        now_ms = int(o.clock.now * 1000)
        drifts = o.pm.reconcile([pos(str(3 + i + 1), u_time=now_ms)])
    assert drifts and drifts[0].corrected
    assert o.pm.expected(INST).sz == Decimal(7)


def test_reconcile_missing_exchange_row_means_flat(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.pm.on_fill(fill("a", Side.SELL, "2", "100", "2"))
    settle(o)
    # no row: when the position went flat is unknown (a close's fill may be on its way, however quiet our
    # side was), so only the same difference seen again settle_ms later is forced
    (d,) = o.pm.reconcile([])
    assert not d.corrected and d.ledger_sz == Decimal(-2) and d.exchange_sz == 0
    assert o.pm.expected(INST).sz == Decimal(-2)
    o.clock.now += o.pm.settle_ms / 1000 - 0.001
    (d,) = o.pm.reconcile([])
    assert not d.corrected
    o.clock.now += 0.001
    (d,) = o.pm.reconcile([])
    assert d.corrected and d.ledger_sz == Decimal(-2) and d.exchange_sz == 0
    e = o.pm.expected(INST)
    assert e.sz == 0 and e.avgPx is None


def test_reconcile_never_forces_an_instrument_with_a_fill_in_flight(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.pm.on_fill(fill("a", Side.BUY, "1", "100", "1"))
    settle(o)
    for _ in range(3):  # quiet and persisted: either would force it, a fill in flight holds it back
        (d,) = o.pm.reconcile([pos("1.5", avg="101")], in_flight={INST})
        assert not d.corrected and o.pm.expected(INST).sz == 1
        settle(o)
    assert o.pm.reconcile([pos("1.5", avg="101")], in_flight={"ETH-USDT-SWAP"})[0].corrected  # another one
    assert o.pm.expected(INST).sz == Decimal("1.5")


def working(req, state: OrderState = OrderState.LIVE, t: int = 0) -> Order:  # type: ignore[no-untyped-def]
    return Order(req=req, state=state, cTime=t, uTime=t)


def stop(side: Side, sz: str, cl: str = "e1", pos_side: PosSide = PosSide.NET, t: int = 0) -> AlgoOrder:
    return StopRequest.for_entry(entry(cl, side=side.opposite, pos_side=pos_side), Decimal(sz)).to_algo(
        uTime=t
    )


def test_ghosts_are_reduce_only_orders_and_stops_with_nothing_to_reduce(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    orders = [working(entry("e1")), working(exit_("x1")), working(exit_("x2", side=Side.BUY))]
    stops = [stop(Side.SELL, "3", "e1"), stop(Side.BUY, "3", "e2")]
    flat = o.pm.ghost_orders(orders, stops, [], now_ms=10**13)
    assert [g.clOrdId for g in flat.orders] == ["x1", "x2"]  # the entry is not a ghost
    assert len(flat.stops) == 2
    long3 = o.pm.ghost_orders(orders, stops, [pos("3")], now_ms=10**13)
    assert [g.clOrdId for g in long3.orders] == ["x2"]  # a buy cannot reduce a long
    assert [s.side for s in long3.stops] == [Side.BUY]
    young = o.pm.ghost_orders(orders, stops, [], now_ms=5_000, min_age_ms=10_000)
    assert young.orders == [] and young.stops == []
    done = o.pm.ghost_orders([working(exit_("x3"), OrderState.FILLED)], [], [], now_ms=10**13)
    assert done.orders == []


def test_ghosts_in_long_short_mode(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    close_long = exit_("c1", side=Side.SELL, pos_side=PosSide.LONG)  # implicitly reduce-only
    orders = [working(close_long), working(entry("e1", pos_side=PosSide.LONG))]
    g = o.pm.ghost_orders(orders, [], [pos("2", PosSide.SHORT)], now_ms=10**13)
    assert [x.clOrdId for x in g.orders] == ["c1"]
    assert o.pm.ghost_orders(orders, [], [pos("2", PosSide.LONG)], now_ms=10**13).orders == []


def test_unprotected_positions(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    long5 = pos("5")
    assert o.pm.unprotected([long5], []) == [(long5, Decimal(0))]
    assert o.pm.unprotected([long5], [stop(Side.SELL, "3")]) == [(long5, Decimal(3))]
    assert o.pm.unprotected([long5], [stop(Side.SELL, "3"), stop(Side.SELL, "2", "e2")]) == []
    assert o.pm.unprotected([long5], [stop(Side.BUY, "5")]) == [(long5, Decimal(0))]  # wrong side
    short = pos("2", PosSide.SHORT)
    assert o.pm.unprotected([short], [stop(Side.BUY, "2", pos_side=PosSide.SHORT)]) == []
    assert o.pm.unprotected([pos("0")], []) == []


def test_correction_is_skipped_when_a_fill_moved_the_ledger_meanwhile(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.pm.on_fill(fill("a", Side.BUY, "1", "100", "1"))
    # reconcile read 0 earlier; a fill since made it 1: the stale correction must not erase that fill
    assert o.pm._force(INST, PosSide.NET, Decimal(0), Decimal(5), Decimal(100)) is False
    assert o.pm.expected(INST).sz == Decimal(1)
    assert o.pm._force(INST, PosSide.NET, Decimal(1), Decimal(5), Decimal(100)) is True
    assert o.pm.expected(INST).sz == Decimal(5)


def whole_position_stop(side: Side, pos_side: PosSide = PosSide.NET, t: int = 0) -> AlgoOrder:
    """A stop a person set on the position in the app: closeFraction 1, no sz."""
    return AlgoOrder(
        algoClOrdId="",
        instId=INST,
        side=side,
        sz=None,
        slTriggerPx=Decimal(90),
        algoId="77",
        posSide=pos_side,
        closeFraction=Decimal(1),
        uTime=t,
    )


def test_a_whole_position_stop_covers_the_position_and_is_no_ghost_while_it_is_open(
    redis_client: Redis,
) -> None:
    o = make_oms(redis_client)
    long5 = pos("5")
    assert o.pm.unprotected([long5], [whole_position_stop(Side.SELL)]) == []
    assert o.pm.unprotected([long5], [whole_position_stop(Side.BUY)]) == [(long5, Decimal(0))]  # wrong side
    short = pos("2", PosSide.SHORT)
    assert o.pm.unprotected([short], [whole_position_stop(Side.BUY, PosSide.SHORT)]) == []
    person = whole_position_stop(Side.SELL)
    assert o.pm.ghost_orders([], [person], [long5], now_ms=10**13).stops == []  # the person's stop stays
    assert o.pm.ghost_orders([], [person], [], now_ms=10**13).stops == [person]  # flat: nothing to protect


def test_a_forced_drift_is_reported_whole_on_the_bus_and_in_the_journal(
    redis_client: Redis, tmp_path: Path
) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    o = make_oms(redis_client, journal=journal)
    o.pm.on_fill(fill("a", Side.BUY, "1", "100", "1"))
    settle(o)
    (d,) = o.pm.reconcile([pos("1.5", avg="101")])
    assert (d.instId, d.posSide, d.ledger_sz, d.exchange_sz) == (
        INST,
        PosSide.NET,
        Decimal(1),
        Decimal("1.5"),
    )
    msg = f"ledger {INST}/net was 1, exchange says 1.5: corrected to the exchange"
    data = {"instId": INST, "posSide": "net", "ledger_sz": "1", "exchange_sz": "1.5", "lotSz": "0.01"}
    assert o.events[EventType.ERROR] == [{"kind": "ledger_drift", "message": msg, **data}]
    (ev,) = journal.events("ledger_drift")
    assert (ev.message, ev.data) == (msg, data)


def test_ledger_entries_name_their_instrument_and_side(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.pm.on_fill(fill("l", Side.BUY, "3", "100", "3", PosSide.LONG))
    assert o.pm.expected(INST, PosSide.LONG) == LedgerEntry(
        INST, PosSide.LONG, Decimal(3), Decimal(100), o.pm.expected(INST, PosSide.LONG).uTime
    )
    settle(o)
    o.pm.reconcile([pos("2", PosSide.LONG, avg="101")])  # forced to the exchange
    forced = o.pm.expected(INST, PosSide.LONG)
    assert (forced.instId, forced.posSide, forced.sz, forced.avgPx) == (
        INST,
        PosSide.LONG,
        Decimal(2),
        Decimal(101),
    )
    assert [(e.instId, e.posSide) for e in o.pm.ledger().values()] == [(INST, PosSide.LONG)]


def test_the_dedupe_window_is_kept_per_instrument_and_side_and_trimmed_to_the_newest(
    redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(positions, "KEEP_FILL_KEYS", 3)
    o = make_oms(redis_client)
    booked = [fill(f"f{i}", Side.BUY, "1", "100", "1") for i in range(5)]
    for f in booked:
        o.clock.now += 1  # the window is ordered by booking time
        o.pm.on_fill(f)
    window = redis_client.zrange(o.keys.ledger_fills(INST, "net"), 0, -1)
    assert [m.decode() for m in window] == [f.fill_key for f in booked[-3:]]


def racing_clock(o, race: Callable[[], object]) -> list[object]:  # type: ignore[no-untyped-def]
    """The clock runs `race` once, the first time it is read: the ledger reads it after MULTI, between
    its read of the ledger and EXEC, so `race` lands exactly where another worker's write would."""
    ran: list[object] = []
    clock = o.pm.clock

    def tick() -> float:
        if not ran:
            ran.append(None)
            ran[0] = race()
        return clock()  # type: ignore[no-any-return]

    o.pm.clock = tick
    return ran


def test_a_correction_landing_while_a_fill_is_booked_is_not_overwritten(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    ran = racing_clock(o, lambda: o.pm._force(INST, PosSide.NET, Decimal(0), Decimal(5), Decimal(100)))
    assert o.pm.on_fill(fill("a", Side.BUY, "1", "100", "1"))
    assert ran == [True] and o.pm.expected(INST).sz == Decimal(6)  # booked again on top of the 5


def test_a_fill_landing_while_a_correction_is_written_wins(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.pm.on_fill(fill("a", Side.BUY, "1", "100", "1"))
    ran = racing_clock(o, lambda: o.pm.on_fill(fill("b", Side.BUY, "1", "100", "2")))
    assert o.pm._force(INST, PosSide.NET, Decimal(1), Decimal(5), Decimal(100)) is False
    assert ran == [True] and o.pm.expected(INST).sz == Decimal(2)  # the fill stays; reconcile decides again


def test_a_forced_ledger_keeps_no_price_for_flat_and_none_for_unknown(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.pm.on_fill(fill("a", Side.BUY, "1", "100", "1"))
    settle(o)
    o.pm.reconcile([pos("0", avg="100")])  # OKX may still show the old avgPx on a flat row
    assert (o.pm.expected(INST).sz, o.pm.expected(INST).avgPx) == (Decimal(0), None)
    settle(o)
    o.pm.reconcile([pos("2", avg=None)])
    assert (o.pm.expected(INST).sz, o.pm.expected(INST).avgPx) == (Decimal(2), None)


def test_a_drift_on_one_instrument_is_found_after_a_matching_one(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    other = Position("AAA-USDT-SWAP", PosSide.NET, Decimal(1), Decimal(10), uTime=0)  # sorts first
    o.pm.on_fill(Fill("a", other.instId, Side.BUY, PosSide.NET, Decimal(1), Decimal(10), Decimal(1)))
    (d,) = o.pm.reconcile([other, pos("2", u_time=int(o.clock.now * 1000))])
    assert (d.instId, d.exchange_sz, d.lotSz) == (INST, Decimal(2), Decimal("0.01"))
    assert o.pm.lot(other.instId) == 0  # no instrument metadata: no lot size


def test_a_changed_difference_restarts_the_settle_clock(redis_client: Redis) -> None:
    o = make_oms(redis_client)

    def exchange(sz: str) -> list[Position]:  # the exchange's row keeps moving: never quiet
        return [pos(sz, u_time=int(o.clock.now * 1000))]

    assert not o.pm.reconcile(exchange("1"))[0].corrected
    o.clock.now += 0.6 * o.pm.settle_ms / 1000
    assert not o.pm.reconcile(exchange("2"))[0].corrected  # a new difference: its clock starts now
    o.clock.now += 0.6 * o.pm.settle_ms / 1000
    assert not o.pm.reconcile(exchange("2"))[0].corrected  # 0.6 settle after it first showed
    o.clock.now += 0.6 * o.pm.settle_ms / 1000
    assert o.pm.reconcile(exchange("2"))[0].corrected


def test_a_difference_exactly_settle_ms_quiet_is_forced(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.clock.now = 0.0
    o.pm.on_fill(fill("a", Side.BUY, "1", "100", "1"))  # booked at 0 ms
    o.clock.now = o.pm.settle_ms / 1000
    assert o.pm.reconcile([pos("0", u_time=0)])[0].corrected  # a flat row, settle_ms old
    o.pm.redis.delete(o.keys.ledger(INST, "net"), o.keys.ledgers)
    assert o.pm.reconcile([pos("3", u_time=0)])[0].corrected  # no ledger; the row is settle_ms old


def test_ghost_age_is_measured_on_the_clock_and_spares_the_young_up_to_min_age(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    now_ms = int(o.clock.now * 1000)
    x = working(exit_("x1"), t=now_ms)
    s = stop(Side.SELL, "3", t=now_ms)
    fresh = o.pm.ghost_orders([x], [s], [])  # the injected clock; no minimum age by default
    assert (fresh.orders, fresh.stops) == ([x], [s])
    at_age = o.pm.ghost_orders([x], [s], [], now_ms=now_ms + 1000, min_age_ms=1000)
    assert (at_age.orders, at_age.stops) == ([x], [s])
    younger = o.pm.ghost_orders([x], [s], [], now_ms=now_ms + 999, min_age_ms=1000)
    assert (younger.orders, younger.stops) == ([], [])


def test_unprotected_looks_past_flat_rows_and_counts_cover_in_decimal(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    long5 = pos("5")
    ((p, covered),) = o.pm.unprotected([pos("0"), long5], [])
    assert p == long5 and type(covered) is Decimal


class RecordingSink:
    name = "recording"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


def test_a_forced_drift_alerts_a_person_with_the_sizes(redis_client: Redis) -> None:
    sink = RecordingSink()
    previous = alerts.install(Notifier([sink]))
    try:
        o = make_oms(redis_client)
        o.pm.on_fill(fill("a", Side.SELL, "1", "100", "1", PosSide.SHORT))
        settle(o)
        o.pm.reconcile([pos("1.5", PosSide.SHORT, avg="101")])
        notifier = alerts.current()
        assert notifier is not None and notifier.flush(5.0)
    finally:
        alerts.install(previous)
    (got,) = sink.alerts
    assert got == replace(alert_events.ledger_drift(INST, "short", "-1", "-1.5"), ts_ms=got.ts_ms)
