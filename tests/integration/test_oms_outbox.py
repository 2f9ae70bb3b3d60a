"""The fill outbox: a fill (or a final state) committed by the Lua transition is emitted — published,
journaled, stop requested, reservation released — exactly once, even when the process that committed
it dies before emitting. The crash is simulated for real: the transition is applied through the same
Lua step OrderManager uses (outbox on, claimed by a process that then never emits), and a fresh
OrderManager over the same Redis and journal does the rest."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

from redis import Redis

from athena.bus import EventType
from athena.config import Settings, StrategySettings
from athena.domain import OrderState, OrderUpdate
from athena.oms.capital import CapitalCommander
from athena.oms.stops import stop_id_for
from athena.procs import wait_until
from athena.state.journal import Journal
from athena.wiring import book_capital
from tests.integration.oms_harness import BTC, INST, Oms, entry, make_oms, upd

DEAD = "deadprocess"


def crash_apply(o: Oms, update: OrderUpdate, ttl_s: float = 60.0) -> str:
    """What OrderManager.on_update commits before it emits anything; the process then dies."""
    t = o.store.apply(update, outbox=True, claim=DEAD, claim_ttl_s=ttl_s)
    assert t.outbox is not None, "this update should have left an outbox entry"
    return t.outbox.id


def expire_claim(o: Oms, entry_id: str) -> None:
    """The dead process's claim runs out (what its TTL does, without waiting for it)."""
    assert o.redis.get(o.keys.outbox_claim(entry_id)) == DEAD.encode()
    o.redis.delete(o.keys.outbox_claim(entry_id))


def test_fill_committed_then_crash_is_emitted_exactly_once_by_a_fresh_manager(
    redis_client: Redis, tmp_path: Path
) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    before = make_oms(redis_client, journal=journal)
    before.om.submit(entry("a1", sz="3"))
    eid = crash_apply(before, upd("a1", OrderState.PARTIALLY_FILLED, "2", "100.5", "2", "100.5", "77", "t1"))
    # committed in Redis, nothing emitted: the gap the outbox closes
    assert before.om.get("a1").accFillSz == Decimal(2)  # type: ignore[union-attr]
    assert before.fills() == [] and journal.fills() == [] and before.sender.stops == []
    assert before.pm.expected(INST).sz == 0 and before.store.outbox_length() == 1

    after = make_oms(redis_client, journal=journal)
    assert after.om.recover_outbox() == 0  # the claim is still alive: maybe that process is just slow
    expire_claim(before, eid)
    assert after.om.recover_outbox() == 1
    (fill,) = after.fills("a1")
    assert (fill.fillSz, fill.fillPx, fill.accFillSz, fill.tradeId) == (
        Decimal(2),
        Decimal("100.5"),
        Decimal(2),
        "t1",
    )
    assert [f.fill_key for f in journal.fills()] == ["a1:2"]
    assert after.sender.stop_size(stop_id_for("a1")) == Decimal(2)
    assert after.pm.expected(INST).sz == Decimal(2)
    assert [o.accFillSz for o in after.events[EventType.ORDER_UPDATE]] == [Decimal(2)]
    jo = journal.order("a1")
    assert jo is not None and jo.state is OrderState.PARTIALLY_FILLED
    assert after.store.outbox_length() == 0 and not redis_client.exists(after.keys.outbox_claim(eid))

    # nothing left: more drains, another restart, and the same report again emit nothing
    assert after.om.recover_outbox() == 0
    third = make_oms(redis_client, journal=journal)
    assert third.om.recover_outbox() == 0
    third.om.on_update(upd("a1", OrderState.PARTIALLY_FILLED, "2", "100.5", "2", "100.5", "77", "t1"))
    assert after.fills() + third.fills() == [fill] and len(journal.fills()) == 1
    # and the next real fill is emitted normally, growing the same stop
    third.om.on_update(upd("a1", OrderState.FILLED, "3", "101", "1", "102", "77", "t2"))
    assert [f.fillSz for f in third.fills("a1")] == [Decimal(1)]
    assert third.sender.stop_size(stop_id_for("a1")) == Decimal(3) and third.pm.expected(INST).sz == Decimal(
        3
    )
    journal.close()


def test_cancel_committed_then_crash_releases_the_reservation_once(redis_client: Redis) -> None:
    settings = Settings(
        total_capital=Decimal(10_000),
        strategies=[StrategySettings(name="s1", instIds=[INST], allocation=Decimal(1))],
    )

    def wire(o: Oms) -> CapitalCommander:  # as every role wires it (athena.wiring)
        cap = CapitalCommander(redis_client, o.keys, settings)
        book_capital(o.bus, cap, {INST: BTC})
        return cap

    before = make_oms(redis_client)
    cap = wire(before)
    assert cap.reserve("s1", "a1", Decimal(30), sz=Decimal(3)).ok
    before.om.submit(entry("a1", sz="3"))
    before.om.on_update(upd("a1", OrderState.PARTIALLY_FILLED, "1", "100", ord_id="5"))  # emitted normally
    assert cap.reserved("s1") == Decimal(20)
    eid = crash_apply(before, upd("a1", OrderState.CANCELED, "1", "100", ord_id="5"))
    assert cap.reserved("s1") == Decimal(20) and "a1" in cap.open_reservations()  # would leak forever

    expire_claim(before, eid)
    after = make_oms(redis_client)
    wire(after)
    assert after.om.recover_outbox() == 1
    assert [o.clOrdId for o in after.events[EventType.ORDER_CANCELLED]] == ["a1"]
    assert after.fills() == []  # the fill was emitted before the crash; not again
    assert cap.reserved("s1") == 0 and cap.open_reservations() == []
    assert after.om.recover_outbox() == 0 and cap.reserved("s1") == 0


def test_next_update_drains_what_a_crash_left(redis_client: Redis) -> None:
    """Without waiting for start-up or reconcile: the next transition that writes the outbox sees
    the older entry waiting and emits it too."""
    before = make_oms(redis_client)
    before.om.submit(entry("a1", sz="3"))
    before.om.submit(entry("a2", sz="2"))
    eid = crash_apply(before, upd("a1", OrderState.FILLED, "3", "100"))
    expire_claim(before, eid)
    after = make_oms(redis_client)
    after.om.on_update(upd("a2", OrderState.FILLED, "2", "99"))
    assert sorted(f.clOrdId for f in after.fills()) == ["a1", "a2"]
    assert after.pm.expected(INST).sz == Decimal(5)
    assert after.sender.stop_size(stop_id_for("a1")) == Decimal(3) and after.sender.stop_size(
        stop_id_for("a2")
    ) == Decimal(2)
    assert after.store.outbox_length() == 0


def test_concurrent_recoverers_emit_each_entry_once(redis_client: Redis, redis_url: str) -> None:
    before = make_oms(redis_client)
    n = 30
    for i in range(n):
        before.om.submit(entry(f"c{i}", sz="1"))
        expire_claim(before, crash_apply(before, upd(f"c{i}", OrderState.FILLED, "1", str(100 + i))))
    clients = [Redis.from_url(redis_url) for _ in range(3)]
    recoverers = [make_oms(c) for c in clients]
    barrier = threading.Barrier(len(recoverers))
    counts: list[int] = []

    def run(o: Oms) -> None:
        barrier.wait()
        counts.append(o.om.recover_outbox())

    threads = [threading.Thread(target=run, args=(o,)) for o in recoverers]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    fills = [f for o in recoverers for f in o.fills()]
    assert sum(counts) == n and len(fills) == n
    assert sorted(f.clOrdId for f in fills) == sorted(f"c{i}" for i in range(n))
    assert recoverers[0].pm.expected(INST).sz == Decimal(n)
    assert before.store.outbox_length() == 0
    for c in clients:
        c.close()


def test_ack_lost_after_emission_re_emits_but_books_nothing_twice(
    redis_client: Redis, tmp_path: Path
) -> None:
    """A crash after the side effects but before the ack: the entry is emitted again (at least once),
    and every consumer that books money is idempotent by fill_key, so nothing is counted twice."""
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    before = make_oms(redis_client, journal=journal)
    before.om.submit(entry("a1", sz="2"))
    acks: list[str] = []
    real_ack = before.store.ack_outbox

    def lost_ack(entry_id: str) -> None:
        acks.append(entry_id)
        raise ConnectionError("process died before the ack")

    before.store.ack_outbox = lost_ack  # type: ignore[method-assign]
    before.om.on_update(upd("a1", OrderState.FILLED, "2", "100"))
    before.store.ack_outbox = real_ack  # type: ignore[method-assign]
    (eid,) = acks
    assert len(before.fills()) == 1 and before.store.outbox_length() == 1
    redis_client.delete(before.keys.outbox_claim(eid))  # its claim expires
    after = make_oms(redis_client, journal=journal)
    assert after.om.recover_outbox() == 1
    assert len(after.fills()) == 1  # published again ...
    assert after.pm.expected(INST).sz == Decimal(2) and len(journal.fills()) == 1  # ... booked once
    assert after.sender.stop_size(stop_id_for("a1")) is None  # the stop was already requested: no resend
    assert after.store.outbox_length() == 0
    journal.close()


def test_dead_emitters_claim_expires_by_itself(redis_client: Redis) -> None:
    """The claim written by the Lua step has a real TTL (no one deletes it here): until it runs out
    nobody else emits the entry, after it the next drain does, once."""
    o = make_oms(redis_client)
    o.om.submit(entry("a1", sz="1"))
    eid = crash_apply(o, upd("a1", OrderState.FILLED, "1", "100"), ttl_s=60)
    claim = o.keys.outbox_claim(eid)
    assert 0 < int(redis_client.pttl(claim)) <= 60_000  # the Lua step gave it a TTL
    other = make_oms(redis_client)
    assert other.om.recover_outbox() == 0 and other.fills() == []  # held (for a minute): left alone
    redis_client.pexpire(claim, 1)  # the minute passes: Redis itself lets the claim go
    assert wait_until(lambda: not redis_client.exists(claim), timeout=10)
    assert other.om.recover_outbox() == 1
    assert len(other.fills()) == 1 and other.store.outbox_length() == 0
    assert other.om.recover_outbox() == 0 and len(other.fills()) == 1  # once


def test_late_recovery_never_shows_an_older_order_state(redis_client: Redis) -> None:
    """The order moved on (filled) before the crashed partial fill was recovered: listeners get the
    missing fill, but never an older order snapshot after a newer one."""
    before = make_oms(redis_client)
    before.om.submit(entry("a1", sz="3"))
    expire_claim(before, crash_apply(before, upd("a1", OrderState.PARTIALLY_FILLED, "1", "100", ord_id="5")))
    after = make_oms(redis_client)
    after.om.on_update(upd("a1", OrderState.FILLED, "3", "100", ord_id="5"))  # drains the old entry too
    ranks = [o.state.rank for o in after.events[EventType.ORDER_UPDATE]]
    assert ranks == sorted(ranks) and after.events[EventType.ORDER_UPDATE][-1].state is OrderState.FILLED
    assert sorted(f.fill_key for f in after.fills()) == ["a1:1", "a1:3"]
    assert sum(f.fillSz for f in after.fills()) == Decimal(3) and after.pm.expected(INST).sz == Decimal(3)
    assert after.sender.stop_size(stop_id_for("a1")) == Decimal(3)


def claim_ttls_at_fill(o: Oms) -> list[int]:
    """While the fill listeners run, the TTL (ms) of every claim on a waiting entry."""
    seen: list[int] = []

    def look(_: object) -> None:
        seen.extend(int(o.redis.pttl(o.keys.outbox_claim(e.id))) for e in o.store.outbox())

    o.bus.subscribe(EventType.ORDER_FILLED, look)
    return seen


def test_an_emitter_holds_its_entry_for_its_own_claim_ttl(redis_client: Redis) -> None:
    """The claim's TTL is how long others wait before presuming the emitter dead: the manager's own
    setting, on the entries it commits and on those it recovers."""
    o = make_oms(redis_client)
    o.om.claim_ttl_s = 5.0
    seen = claim_ttls_at_fill(o)
    o.om.submit(entry("a1", sz="1"))
    o.om.on_update(upd("a1", OrderState.FILLED, "1", "100"))
    o.om.submit(entry("a2", sz="1"))
    expire_claim(o, crash_apply(o, upd("a2", OrderState.FILLED, "1", "100")))
    assert o.om.recover_outbox() == 1
    assert len(seen) == 2 and all(0 < ttl <= 5000 for ttl in seen), seen


def test_a_drain_emits_at_most_its_limit_and_skips_what_another_emitter_holds(redis_client: Redis) -> None:
    before = make_oms(redis_client)
    ids = []
    for i in range(6):
        before.om.submit(entry(f"c{i}", sz="1"))
        ids.append(crash_apply(before, upd(f"c{i}", OrderState.FILLED, "1", "100")))
    for eid in ids[1:]:
        expire_claim(before, eid)  # c0's emitter is alive: its entry is not ours to take
    after = make_oms(redis_client)
    assert after.om.recover_outbox(limit=3) == 3
    assert [f.clOrdId for f in after.fills()] == ["c1", "c2", "c3"]  # oldest first, exactly 3
    assert [e.clOrdId for e in after.store.outbox()] == ["c0", "c4", "c5"]


def test_a_drain_emits_at_most_a_thousand_entries_by_default(redis_client: Redis) -> None:
    before = make_oms(redis_client)
    before.om.submit(entry("big", sz="2000"))
    for acc in range(1, 1002):  # 1001 fills committed by a process that died before emitting any
        crash_apply(before, upd("big", OrderState.PARTIALLY_FILLED, str(acc), "100"), ttl_s=0.001)
    assert wait_until(lambda: not redis_client.keys(before.keys.outbox_claim("*")), timeout=10)
    after = make_oms(redis_client)
    assert after.om.recover_outbox() == 1000 and after.store.outbox_length() == 1
