"""Named regressions for the failures the design rules answer (docs/DESIGN_RULES.md), each over a real
Redis, and a real SQLite journal where the failure touched it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from redis import Redis

from athena.bus import EventType
from athena.domain import AlgoState, OrderState, Position, PosSide, Side
from athena.oms.stops import StopAction, stop_id_for
from athena.state.journal import Journal
from athena.state.locks import TtlLock
from tests.integration.oms_harness import INST, entry, exit_, make_oms, upd
from tests.waiting import wait_for


def test_fill_before_ack(redis_client: Redis, tmp_path: Path) -> None:
    """The WS fill push beats the REST ack: the order is found by clOrdId, the fill is booked once,
    the stop is requested, and the late ack neither regresses the state nor re-books the fill."""
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    o = make_oms(redis_client, journal=journal)
    o.om.submit(entry("a1", sz="3"))
    o.om.on_update(upd("a1", OrderState.FILLED, "3", "100.5", "3", "100.5", "77", "t1"))
    t = o.om.on_update(upd("a1", OrderState.LIVE, "0", ord_id="77", source="rest_ack"))  # the late ack
    assert not t.filled and t.state is OrderState.FILLED
    order = o.om.get("a1")
    assert order is not None and order.state is OrderState.FILLED and order.ordId == "77"
    assert [(f.fillSz, f.fillPx) for f in o.fills("a1")] == [(Decimal(3), Decimal("100.5"))]
    assert o.sender.stop_size(stop_id_for("a1")) == Decimal(3)
    assert o.pm.expected(INST).sz == Decimal(3)
    assert [f.fill_key for f in journal.fills(clOrdId="a1")] == ["a1:3"]
    jo = journal.order("a1")
    assert jo is not None and jo.state is OrderState.FILLED
    journal.close()


def test_market_order_with_no_price(redis_client: Redis) -> None:
    """A market order has px None end to end; a fill reported with no price anywhere is not booked
    at an invented price (an ERROR instead), still gets its stop, and reconcile restores the ledger."""
    o = make_oms(redis_client)
    req = entry("m1", sz="3", px=None)
    assert req.px is None
    o.om.submit(req)
    stored = o.om.get("m1")
    assert stored is not None and stored.req.px is None and stored.avgPx is None
    o.om.on_update(upd("m1", OrderState.LIVE, "0", avg="0", ord_id="5", source="rest_ack"))  # WS "0" avgPx
    o.om.on_update(upd("m1", OrderState.PARTIALLY_FILLED, "1"))  # size but no price anywhere
    assert o.fills("m1") == []
    assert [e["kind"] for e in o.events[EventType.ERROR]] == ["fill_without_px"]
    assert o.sender.stop_size(stop_id_for("m1")) == Decimal(1)  # protection does not need a price
    o.om.on_update(upd("m1", OrderState.FILLED, "3", "101", fill_sz="0"))  # "filled with fillSz 0"
    (f,) = o.fills("m1")
    assert f.fillSz == Decimal(2) and f.fillPx == Decimal(101)
    assert o.sender.stop_size(stop_id_for("m1")) == Decimal(3)
    assert o.pm.expected(INST).sz == Decimal(2)
    o.clock.now += o.pm.settle_ms / 1000  # settled: not a fill in flight
    (d,) = o.pm.reconcile([Position(INST, PosSide.NET, Decimal(3), Decimal(101))])
    assert d.corrected and o.pm.expected(INST).sz == Decimal(3)
    # a market exit with no price at all
    o.om.submit(exit_("m2", sz="3"))
    o.om.on_update(upd("m2", OrderState.FILLED, "3", fill_px="99"))
    assert o.pm.expected(INST).sz == 0 and o.pm.expected(INST).avgPx is None


def test_phantom_position_after_close(redis_client: Redis) -> None:
    """No local 'position open' flag: the ledger follows fills, and when the exchange closed the
    position on its own (stop fired), reconcile brings the ledger to flat and the leftovers are ghosts."""
    o = make_oms(redis_client)
    o.om.submit(entry("a1", sz="3"))
    o.om.on_update(upd("a1", OrderState.FILLED, "3", "100"))
    o.om.submit(exit_("x1", sz="3"))
    o.om.on_update(upd("x1", OrderState.FILLED, "3", "105"))
    assert o.pm.expected(INST).sz == 0
    assert o.pm.reconcile([]) == []  # flat on both sides: nothing phantom
    flat = Position(INST, PosSide.NET, Decimal(0), None, uTime=int(o.clock.now * 1000))
    assert o.om.on_position(flat) == [stop_id_for("a1")]  # position closed -> its stop cancelled
    o.algos.set_state(stop_id_for("a1"), AlgoState.CANCELED)  # ... as the exchange confirms
    o.clock.now += 1
    # second round: the exchange's stop closes the position; our fills never say so
    o.om.submit(entry("a2", sz="2"))
    o.om.on_update(upd("a2", OrderState.FILLED, "2", "100"))
    o.om.submit(exit_("tp2", sz="2"))  # a resting take-profit
    assert o.pm.expected(INST).sz == Decimal(2)
    o.clock.now += o.pm.settle_ms / 1000
    assert not o.pm.reconcile([])[0].corrected  # flat since when? the exchange's list does not say
    o.clock.now += o.pm.settle_ms / 1000  # the same difference settle_ms later: not a fill in flight
    (d,) = o.pm.reconcile([])
    assert d.corrected and o.pm.expected(INST).sz == 0
    ghosts = o.pm.ghost_orders(o.om.working(), o.algos.working(), [], now_ms=10**13)
    assert [g.clOrdId for g in ghosts.orders] == ["tp2"]
    assert [s.algoClOrdId for s in ghosts.stops] == [stop_id_for("a2")]


def test_duplicate_close_while_close_in_flight(redis_client: Redis) -> None:
    """The close is asked twice (a second signal, a redelivered task, another process) while the
    first is in flight: same intent -> same clOrdId -> one order on the exchange."""
    a, b = make_oms(redis_client), make_oms(redis_client)  # two processes, one Redis
    a.om.submit(entry("a1", sz="3"))
    a.om.on_update(upd("a1", OrderState.FILLED, "3", "100"))
    seq = a.om.next_seq("s1", INST)
    cl = a.om.new_cl_ord_id("s1", seq, INST)
    close = exit_(cl, sz="3")
    first = a.om.submit(close)
    second = a.om.submit(exit_(a.om.new_cl_ord_id("s1", seq, INST), sz="3"))
    third = b.om.submit(close)
    assert first.clOrdId == second.clOrdId == third.clOrdId == cl
    assert a.sender.sent_ids() == ["a1", cl] and b.sender.sent_ids() == []
    # the close lock expires by itself: a crashed holder cannot dead-lock closing forever
    key = a.keys.lock(f"close:{INST}")
    lock = TtlLock(redis_client, key, ttl_ms=60_000)
    assert lock.acquire() is not None and lock.acquire() is None
    assert 0 < int(redis_client.pttl(key)) <= 60_000  # it carries a TTL ...
    redis_client.pexpire(key, 1)  # ... and when that runs out (the holder crashed), Redis frees it
    assert wait_for(lock.acquire, what="the close lock to expire")


def test_partial_fill_drift(redis_client: Redis) -> None:
    """Many small partial fills, each reported by several sources in a scrambled order: the ledger
    equals the exchange's position exactly, with no correction needed."""
    o = make_oms(redis_client)
    o.om.submit(entry("big", sz="7.5"))
    reports = []
    acc, notional = Decimal(0), Decimal(0)
    for i in range(75):  # 75 fills of one lot (0.1 = 10 x lotSz 0.01) at drifting prices
        px = Decimal(100) + Decimal(i % 7) / 10
        acc += Decimal("0.1")
        notional += Decimal("0.1") * px
        avg = notional / acc
        state = OrderState.FILLED if i == 74 else OrderState.PARTIALLY_FILLED
        reports.append(upd("big", state, str(acc), str(avg), "0.1", str(px), "1", f"t{i}"))
        reports.append(upd("big", state, str(acc), str(avg), source="sync"))
    scrambled = reports[1::3] + reports[::2] + reports[2::3] + reports[::-5]
    for r in scrambled:
        o.om.on_update(r)
        order = o.om.get("big")
        assert order is not None and o.pm.expected(INST).sz == order.accFillSz
    assert sum(f.fillSz for f in o.fills("big")) == Decimal("7.5")
    assert o.pm.expected(INST).sz == Decimal("7.5")
    assert o.pm.reconcile([Position(INST, PosSide.NET, Decimal("7.5"), Decimal(100))]) == []
    assert o.sender.stop_size(stop_id_for("big")) == Decimal("7.5")


def test_stop_lost_after_restart(redis_client: Redis) -> None:
    """A restart (new OrderManager, same Redis) still knows the entry and its stop, grows that stop on
    the next fill instead of placing a second one, and the protection check finds a stop the
    exchange lost."""
    before = make_oms(redis_client)
    before.om.submit(entry("a1", side=Side.SELL, sz="5", sl="110"))
    before.om.on_update(upd("a1", OrderState.PARTIALLY_FILLED, "2", "100", ord_id="9"))
    sid = stop_id_for("a1")
    after = make_oms(redis_client)  # the old process is gone
    known = after.om.get("a1")
    stop = after.om.stop_of("a1")
    assert known is not None and known.accFillSz == Decimal(2) and known.state is OrderState.PARTIALLY_FILLED
    assert (
        stop is not None
        and stop.sz == Decimal(2)
        and stop.side is Side.BUY
        and stop.slTriggerPx == Decimal(110)
    )
    after.om.on_update(upd("", OrderState.PARTIALLY_FILLED, "3", "100", ord_id="9"))  # ordId-only push
    assert after.om.ensure_stop("a1").action is StopAction.NONE
    assert [s.sz for s in after.sender.stops] == [Decimal(3)] and after.om.stop_of("a1").sz == Decimal(3)  # type: ignore[union-attr]
    short3 = Position(INST, PosSide.NET, Decimal(-3), Decimal(100))
    assert after.pm.unprotected([short3], after.algos.working()) == []  # as we believe
    assert after.pm.unprotected([short3], []) == [(short3, Decimal(0))]  # as the exchange says: lost
    assert sid in {a.algoClOrdId for a in after.algos.working(INST)}


def test_journal_failure_does_not_lose_the_fill(redis_client: Redis, tmp_path: Path) -> None:
    """The Redis delta is committed before the journal is written: a broken journal is an ERROR,
    and the fill is still published, booked in the ledger and covered by its stop."""
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    with journal.engine.begin() as conn:  # a real failure: the fills table is gone
        conn.exec_driver_sql("DROP TABLE fills")
    o = make_oms(redis_client, journal=journal)
    o.om.submit(entry("a1", sz="2"))
    o.om.on_update(upd("a1", OrderState.FILLED, "2", "100"))
    assert len(o.fills("a1")) == 1 and o.pm.expected(INST).sz == Decimal(2)
    assert o.sender.stop_size(stop_id_for("a1")) == Decimal(2)
    (failed,) = [e for e in o.events[EventType.ERROR] if e["kind"] == "journal_failed"]
    assert failed["message"].startswith("journal record_fill: ") and "fills" in failed["message"]
    journal.close()
