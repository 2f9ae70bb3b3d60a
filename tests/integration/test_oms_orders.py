"""OrderManager over a real Redis: clOrdId first, exactly-once fills, stops on fill, ambiguity."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from athena import alerts
from athena.alerts import events as alert_events
from athena.alerts.events import Alert
from athena.alerts.notifier import Notifier
from athena.bus import EventType
from athena.domain import (
    AlgoState,
    Fill,
    OrderRequest,
    OrderState,
    OrderUpdate,
    OrdType,
    Position,
    PosSide,
    Side,
)
from athena.oms.orders import DuplicateIntentError, OrderManager
from athena.oms.sender import RecordingSender
from athena.oms.stops import StopAction, record_stop_owner, stop_id_for
from athena.state.journal import Journal
from tests.integration.oms_harness import INST, entry, exit_, make_oms, upd


class CheckingSender(RecordingSender):
    """Checks, at send time, that the order is already recorded in Redis (rule 1, docs/DESIGN_RULES.md)."""

    def __init__(self, redis: Redis) -> None:
        super().__init__()
        self.redis = redis
        self.states_at_send: list[str] = []

    def send_order(self, req: OrderRequest) -> None:
        from athena.state.keys import Keys
        from athena.state.orders import OrderStore

        order = OrderStore(self.redis, Keys("test", "acct")).get(req.clOrdId)
        self.states_at_send.append("missing" if order is None else str(order.state))
        super().send_order(req)


def test_submit_records_created_before_send(redis_client: Redis) -> None:
    sender = CheckingSender(redis_client)
    o = make_oms(redis_client, sender=sender)
    order = o.om.submit(entry("a1"))
    assert sender.states_at_send == ["created"]
    assert order.state is OrderState.SENT
    assert [x.clOrdId for x in o.om.working(INST)] == ["a1"] and o.om.working("ETH-USDT-SWAP") == []


def test_redelivered_submit_sends_once(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    first = o.om.submit(entry("a1"))
    o.om.on_update(upd("a1", OrderState.LIVE, ord_id="9"))
    again = o.om.submit(entry("a1"))
    assert o.sender.sent_ids() == ["a1"]
    assert first.clOrdId == again.clOrdId and again.state is OrderState.LIVE


def test_colliding_intent_is_refused(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(entry("a1", sz="3"))
    with pytest.raises(DuplicateIntentError):
        o.om.submit(entry("a1", sz="4"))
    assert o.sender.sent_ids() == ["a1"]


def test_fill_published_once_per_delta_and_cancel_once(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(entry("a1"))
    for _ in range(2):  # every report twice
        o.om.on_update(upd("a1", OrderState.PARTIALLY_FILLED, "1", "100", "1", "100", "7", "t1"))
        o.om.on_update(upd("a1", OrderState.PARTIALLY_FILLED, "2", "101", "1", "102", "7", "t2"))
        o.om.on_update(upd("a1", OrderState.CANCELED, "2", "101", ord_id="7", source="rest_query"))
    fills = o.fills("a1")
    assert [(f.fillSz, f.fillPx, f.accFillSz, f.tradeId) for f in fills] == [
        (Decimal(1), Decimal(100), Decimal(1), "t1"),
        (Decimal(1), Decimal(102), Decimal(2), "t2"),
    ]
    assert [x.clOrdId for x in o.events[EventType.ORDER_CANCELLED]] == ["a1"]
    assert o.om.get("a1").state is OrderState.CANCELED and o.om.working() == []  # type: ignore[union-attr]
    assert o.pm.expected(INST).sz == Decimal(2)


def test_update_with_only_ord_id_resolves_through_index(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(entry("a1"))
    o.om.on_update(upd("a1", OrderState.LIVE, ord_id="555"))
    t = o.om.on_update(upd("", OrderState.FILLED, "3", "100", "3", "100", "555"))
    assert t.order.clOrdId == "a1" and t.filled and t.fill_sz == Decimal(3)


def test_external_order_gets_a_synthetic_id(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    t = o.om.on_update(upd("", OrderState.LIVE, ord_id="123456789"))
    assert t.created and t.order.clOrdId == "x123456789"
    again = o.om.on_update(upd("", OrderState.CANCELED, ord_id="123456789"))
    assert again.order.clOrdId == "x123456789" and again.state is OrderState.CANCELED
    with pytest.raises(ValueError):
        o.om.on_update(upd("", OrderState.LIVE))


def test_partial_fills_grow_the_stop(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(entry("a1", sz="5"))
    sid = stop_id_for("a1")
    for acc in ("1", "1", "3", "2", "5"):  # a duplicate and a stale report in between
        o.om.on_update(
            upd("a1", OrderState.FILLED if acc == "5" else OrderState.PARTIALLY_FILLED, acc, "100")
        )
        order = o.om.get("a1")
        assert order is not None and o.sender.stop_size(sid) == order.accFillSz
    assert [s.sz for s in o.sender.stops] == [Decimal(1), Decimal(3), Decimal(5)]
    stop = o.om.stop_of("a1")
    assert stop is not None and stop.sz == Decimal(5) and stop.side.value == "sell" and stop.reduceOnly


def test_exit_orders_get_no_stop(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(exit_("x1"))
    o.om.on_update(upd("x1", OrderState.FILLED, "3", "100"))
    assert o.sender.stops == [] and len(o.fills("x1")) == 1


def test_entry_canceled_unfilled_cancels_its_stop(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    req = entry("a1")
    o.om.submit(req)
    from athena.oms.stops import StopRequest

    o.algos.record(StopRequest.for_entry(req, Decimal(1)).to_algo())  # e.g. a stop placed by hand
    o.om.on_update(upd("a1", OrderState.CANCELED, "0"))
    assert o.sender.stop_cancels == [(INST, stop_id_for("a1"))]


def test_stop_send_failure_is_reported_and_retried_on_next_fill(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(entry("a1"))
    o.sender.fail_next = 1
    o.om.on_update(upd("a1", OrderState.PARTIALLY_FILLED, "1", "100"))
    assert o.om.stop_of("a1") is None
    assert [e["kind"] for e in o.events[EventType.ERROR]] == ["stop_failed"]
    assert o.om.ensure_stop("a1").action is StopAction.PLACE  # the protection task's retry
    assert o.sender.stop_size(stop_id_for("a1")) == Decimal(1)
    with pytest.raises(KeyError):
        o.om.ensure_stop("nope")


def test_cancel(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(entry("a1"))
    assert o.om.cancel("a1") is True
    o.om.on_update(upd("a1", OrderState.CANCELED, "0"))
    assert o.om.cancel("a1") is False and o.om.cancel("nope") is False
    assert o.sender.cancels == [(INST, "a1")]


def test_send_failure_makes_the_order_ambiguous_and_resolution_reuses_the_id(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.sender.fail_next = 1
    order = o.om.submit(entry("a1"))
    assert order.state is OrderState.AMBIGUOUS
    assert [e["kind"] for e in o.events[EventType.ERROR]] == ["send_failed"]
    assert o.om.unconfirmed() == []  # too young to query
    assert o.om.resolve_ambiguous("a1", None).outcome == "wait"
    o.clock.now += 11
    assert [x.clOrdId for x in o.om.unconfirmed()] == ["a1"]
    res = o.om.resolve_ambiguous("a1", None)
    assert res.outcome == "resent" and o.sender.sent_ids() == ["a1"]  # same clOrdId, never a new one
    assert o.om.resolve_ambiguous("a1", None).outcome == "wait"  # the re-send restarted the window
    settled = o.om.resolve_ambiguous("a1", upd("a1", OrderState.LIVE, ord_id="42", source="rest_query"))
    assert (
        settled.outcome == "settled" and settled.order is not None and settled.order.state is OrderState.LIVE
    )
    assert o.om.resolve_ambiguous("a1", None).outcome == "not_ambiguous"
    assert o.om.resolve_ambiguous("nope", None).outcome == "unknown"


def test_ambiguous_order_never_found_is_rejected_after_bounded_resends(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.sender.fail_next = 1
    o.om.submit(entry("a1"))
    outcomes = []
    for _ in range(5):
        o.clock.now += 11
        outcomes.append(o.om.resolve_ambiguous("a1", None).outcome)
    assert outcomes == ["resent", "resent", "resent", "rejected", "not_ambiguous"]
    assert set(o.sender.sent_ids()) == {"a1"}
    order = o.om.get("a1")
    assert order is not None and order.state is OrderState.REJECTED and "not found" in order.reason
    assert [x.clOrdId for x in o.events[EventType.ORDER_CANCELLED]] == ["a1"]


def test_resolve_without_resend_rejects(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(entry("a1"))
    o.om.mark_ambiguous("a1")
    o.clock.now += 11
    res = o.om.resolve_ambiguous("a1", None, resend=False)
    assert res.outcome == res.status == "rejected"  # status: the name athena.ops.reconcile reports
    assert o.sender.sent_ids() == ["a1"]
    with pytest.raises(KeyError):
        o.om.mark_ambiguous("nope")


def test_next_seq_survives_a_new_manager(redis_client: Redis) -> None:
    """Numbers come from blocks reserved in Redis: a restarted (or a second) manager never hands out
    a number given before; a restart skips what was left of its block."""
    from athena.oms.orders import SEQ_BLOCK

    a = make_oms(redis_client)
    first = [a.om.next_seq("s1", INST) for _ in range(SEQ_BLOCK + 3)]  # crosses into a second block
    assert first == list(range(1, SEQ_BLOCK + 4))
    assert a.om.next_seq("s1", "ETH-USDT-SWAP") == 1  # per strategy and instrument
    b = make_oms(redis_client)
    assert b.om.next_seq("s1", INST) == 2 * SEQ_BLOCK + 1  # after both of a's blocks
    assert a.om.next_seq("s1", INST) == SEQ_BLOCK + 4  # a continues its own block: still unique
    assert b.om.new_cl_ord_id("s1", 4, INST) == "s1BTCUSDT4"
    assert redis_client.get(a.keys.intent_seq("s1", INST)) == str(3 * SEQ_BLOCK).encode()
    assert a.om.next_seq("s2") == 1 and b.om.new_cl_ord_id("s2", 1) == "s21"  # no instrument given
    assert redis_client.get(a.keys.intent_seq("s2", "")) == str(SEQ_BLOCK).encode()


def test_stop_record_is_never_revived_once_final(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(entry("a1", sz="5"))
    o.om.on_update(upd("a1", OrderState.PARTIALLY_FILLED, "2", "100"))
    o.algos.set_state(stop_id_for("a1"), AlgoState.EFFECTIVE)  # the stop fired
    o.om.on_update(upd("a1", OrderState.PARTIALLY_FILLED, "3", "100"))
    assert [s.sz for s in o.sender.stops] == [Decimal(2)]


def test_flat_position_cancels_only_stops_older_than_the_report(redis_client: Redis) -> None:
    from athena.domain import Position, PosSide

    o = make_oms(redis_client)
    o.om.submit(entry("a1"))
    o.om.on_update(upd("a1", OrderState.FILLED, "3", "100"))
    requested_ms = int(o.clock.now * 1000)
    stale_flat = Position(INST, PosSide.NET, Decimal(0), None, uTime=requested_ms - 1)
    assert o.om.on_position(stale_flat) == []  # predates the fill: protection stays
    assert (
        o.om.on_position(Position(INST, PosSide.NET, Decimal(3), Decimal(100), uTime=requested_ms + 5)) == []
    )
    assert o.om.on_position(Position(INST, PosSide.LONG, Decimal(0), None, uTime=requested_ms + 5)) == []
    assert o.om.on_position(Position(INST, PosSide.NET, Decimal(0), None, uTime=requested_ms + 5)) == ["sla1"]
    assert o.sender.stop_cancels == [(INST, "sla1")]


def test_flat_report_cancels_the_closed_positions_stop_and_keeps_the_next_ones(redis_client: Redis) -> None:
    """A long closed, then a short opened before the flat report was handled: the report strips the
    long's stop and leaves the short's (requested after the report) alone."""
    from athena.domain import Position, PosSide, Side

    o = make_oms(redis_client)
    o.om.submit(entry("a1"))
    o.om.on_update(upd("a1", OrderState.FILLED, "3", "100"))
    flat_ms = int(o.clock.now * 1000) + 500
    o.clock.now += 1
    o.om.submit(entry("b1", side=Side.SELL, sl="110"))
    o.om.on_update(upd("b1", OrderState.FILLED, "3", "99"))
    assert o.om.on_position(Position(INST, PosSide.NET, Decimal(0), None, uTime=flat_ms)) == ["sla1"]
    assert o.sender.stop_cancels == [(INST, "sla1")]


def test_partial_exit_shrinks_the_stop_to_the_position(redis_client: Redis) -> None:
    """A net-mode reduce-only stop larger than the position is rejected whole when it fires:
    after a partial exit the stop is resized (exactly) to what the position still holds."""
    from athena.domain import Position, PosSide

    o = make_oms(redis_client)
    o.om.submit(entry("a1", sz="3"))
    o.om.on_update(upd("a1", OrderState.FILLED, "3", "100"))
    o.clock.now += 1
    o.om.submit(entry("a2", sz="2"))
    o.om.on_update(upd("a2", OrderState.FILLED, "2", "100"))
    o.clock.now += 1
    o.om.submit(exit_("x1", sz="4"))
    o.om.on_update(upd("x1", OrderState.FILLED, "4", "101"))
    now_ms = int(o.clock.now * 1000)
    stale = Position(INST, PosSide.NET, Decimal(1), Decimal(100), uTime=now_ms - 1500)  # before a2's stop
    assert o.om.on_position(stale) == []
    touched = o.om.on_position(Position(INST, PosSide.NET, Decimal(1), Decimal(100), uTime=now_ms))
    assert touched == ["sla1", "sla2"]
    assert o.sender.stop_size("sla1") == Decimal(1) and o.algos.get("sla1").sz == Decimal(1)  # type: ignore[union-attr]
    assert o.sender.stop_cancels == [(INST, "sla2")]
    assert o.pm.unprotected([Position(INST, PosSide.NET, Decimal(1), Decimal(100))], o.algos.working()) == []


class QueueingSender(RecordingSender):
    """A sender whose queue is in the same Redis: hands its message to OrderStore.create."""

    def __init__(self, queue: str) -> None:
        super().__init__()
        self.queue = queue
        self.asked: list[Redis] = []  # the Redis each order_message was asked to queue with

    def order_message(self, req: OrderRequest, redis: Redis) -> tuple[str, str] | None:
        self.asked.append(redis)
        return self.queue, f"place {req.clOrdId}"


def test_an_order_and_its_task_are_written_in_one_step_and_a_redelivery_queues_nothing(
    redis_client: Redis,
) -> None:
    queue = "test:outbox-queue"
    redis_client.delete(queue)
    sender = QueueingSender(queue)
    o = make_oms(redis_client, sender=sender)
    order = o.om.submit(entry("q1"))
    assert order.state is OrderState.SENT and o.om.get("q1").state is OrderState.SENT  # type: ignore[union-attr]
    assert redis_client.lrange(queue, 0, -1) == [b"place q1"]
    assert sender.sent_ids() == []  # not sent a second time through send_order
    again = o.om.submit(entry("q1"))  # a redelivered decision
    assert again.clOrdId == "q1" and redis_client.llen(queue) == 1
    o.om.on_update(upd("q1", OrderState.LIVE, ord_id="7"))  # the task's ack moves it on as usual
    assert o.om.get("q1").state is OrderState.LIVE  # type: ignore[union-attr]
    redis_client.delete(queue)


def test_celery_sender_queues_with_the_record_only_on_the_brokers_own_redis(
    celery_app, redis_url: str
) -> None:  # type: ignore[no-untyped-def]
    import json

    from workers.sender import CelerySender

    sender = CelerySender(celery_app)
    req = entry("c1")
    same = sender.order_message(req, Redis.from_url(redis_url))
    assert same is not None and same[0] == "orders.main"  # athena.queues: the account is in the name
    msg = json.loads(same[1])
    assert msg["headers"]["task"] == "athena.place_order" and msg["headers"]["argsrepr"].startswith("c1 ")
    other_db = redis_url.rsplit("/", 1)[0] + "/7"
    assert sender.order_message(req, Redis.from_url(other_db)) is None  # another database: send_order


def test_deferred_journal_rows_wait_for_the_dispatcher_and_terminal_ones_do_not(
    redis_client: Redis, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """The stream worker defers the journal rows of non-terminal updates (written when its inbox is empty); a
    terminal update is journaled at once, and a late deferred row never moves the row backwards."""
    from athena.state.journal import Journal

    journal = Journal(f"sqlite:///{tmp_path}/athena.db")
    try:
        o = make_oms(redis_client, journal=journal)
        owed: list[Any] = []
        o.om.defer_journal = owed.append
        o.om.submit(entry("d1"))  # a decision's own row (SENT) is deferred too
        assert len(owed) == 1 and journal.order("d1") is None
        owed.pop()()
        assert journal.order("d1").state is OrderState.SENT  # type: ignore[union-attr]
        o.om.on_update(upd("d1", OrderState.LIVE, ord_id="7"))
        assert len(owed) == 1 and journal.order("d1").state is OrderState.SENT  # type: ignore[union-attr]
        o.om.on_update(
            upd(
                "d1",
                OrderState.FILLED,
                acc="3",
                avg="100",
                fill_sz="3",
                fill_px="100",
                ord_id="7",
                trade="t1",
            )
        )
        assert len(owed) == 1 and journal.order("d1").state is OrderState.FILLED  # type: ignore[union-attr]
        owed.pop()()  # the live row, written after the filled one: it loses
        row = journal.order("d1")
        assert row is not None and row.state is OrderState.FILLED and row.accFillSz == Decimal(3)
    finally:
        journal.close()


def stop_order(
    algo: str, sz: str | None = "3", acc: str | None = None, side: Side | None = Side.SELL, **kw: Any
) -> OrderUpdate:
    """The order a triggered exchange stop created, as OKX reports it: no clOrdId, the stop's id."""
    return OrderUpdate(
        "",
        INST,
        OrderState.LIVE,
        ordId="77",
        side=side,
        sz=None if sz is None else Decimal(sz),
        accFillSz=None if acc is None else Decimal(acc),
        algoClOrdId=algo,
        **kw,
    )


def test_a_triggered_stop_s_order_is_booked_to_the_strategy_that_owns_the_stop(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    record_stop_owner(redis_client, o.keys, "sA1", "trend", "e1")
    assert o.om.resolve(stop_order("sA1")).clOrdId == "sA1"
    booked = o.om.get("sA1")
    now = int(o.clock.now * 1000)
    assert booked is not None and (booked.state, booked.cTime, booked.uTime) == (OrderState.CREATED, now, now)
    assert booked.req == OrderRequest(
        "sA1", INST, Side.SELL, OrdType.MARKET, Decimal(3), reduceOnly=True, strategy="trend", tag="stop"
    )
    o.om.resolve(stop_order("sA1", sz="5"))  # known already: kept as first booked
    assert o.om.get("sA1") == booked


def test_a_triggered_stop_s_order_takes_what_the_report_says(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    limit = stop_order("sB1", ordType=OrdType.LIMIT, px=Decimal(95), posSide=PosSide.LONG)
    o.om.resolve(limit)  # an owner nobody recorded: booked to no strategy
    assert o.om.get("sB1").req == OrderRequest(  # type: ignore[union-attr]
        "sB1", INST, Side.SELL, OrdType.LIMIT, Decimal(3), Decimal(95), posSide=PosSide.LONG,
        reduceOnly=True, tag="stop",
    )  # fmt: skip
    for algo, sz in (("sC1", None), ("sC2", "0")):  # no size said: the filled size is the size
        o.om.resolve(stop_order(algo, sz=sz, acc="2"))
        assert o.om.get(algo).req.sz == Decimal(2)  # type: ignore[union-attr]
    for algo, upd_ in (
        ("sD1", stop_order("sD1", side=None)),
        ("sD2", stop_order("sD2", sz=None)),
        ("sD3", stop_order("sD3", sz="0", acc="0")),
        ("sD4", stop_order("sD4", sz=None, acc="-1")),
    ):  # too little said to build a request: recorded as external, not booked
        assert o.om.resolve(upd_).clOrdId == algo and o.om.get(algo) is None


class RecordingSink:
    name = "recording"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


def test_a_refused_stop_is_an_error_event_a_journal_row_and_an_alert(
    redis_client: Redis, tmp_path: Path
) -> None:
    sink = RecordingSink()
    previous = alerts.install(Notifier([sink]))
    try:
        journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
        o = make_oms(redis_client, journal=journal)
        o.om.submit(entry("a1"))
        o.sender.fail_next = 1
        o.om.on_update(upd("a1", OrderState.PARTIALLY_FILLED, "1", "100"))
        notifier = alerts.current()
        assert notifier is not None and notifier.flush(5.0)
    finally:
        alerts.install(previous)
    sid = stop_id_for("a1")
    msg = f"a1: place stop {sid} failed: injected failure on send_stop {sid}"
    data = {"clOrdId": "a1", "algoClOrdId": sid, "action": "place"}
    assert o.events[EventType.ERROR] == [{"kind": "stop_failed", "message": msg, **data}]
    (ev,) = journal.events("stop_failed")
    assert (ev.message, ev.data) == (msg, data)
    (got,) = sink.alerts
    assert got == replace(alert_events.stop_failed(sid, "a1", msg), ts_ms=got.ts_ms)


def test_each_resolution_carries_the_order_as_stored_and_what_was_applied(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(entry("a1"))
    o.om.mark_ambiguous("a1")
    window_ms = int(o.om.ambiguity_window_s * 1000)
    o.clock.now += (window_ms - 1) / 1000
    wait = o.om.resolve_ambiguous("a1", None)
    assert (wait.outcome, wait.order, wait.transition) == ("wait", o.om.get("a1"), None)
    o.clock.now += 1 / 1000  # exactly the window: time to ask again
    resent = o.om.resolve_ambiguous("a1", None)
    assert resent.outcome == "resent" and resent.order == o.om.get("a1")
    assert resent.transition is not None and resent.transition.state is OrderState.AMBIGUOUS
    assert redis_client.get(o.keys.resends("a1")) == b"1"
    o.clock.now += window_ms / 1000
    given_up = o.om.resolve_ambiguous("a1", None, resend=False)
    order = o.om.get("a1")
    assert given_up.outcome == "rejected" and given_up.order == order and order is not None
    assert given_up.transition is not None and given_up.transition.state is OrderState.REJECTED
    assert order.reason == "not found at the exchange after the ambiguity window"
    assert order.uTime == int(o.clock.now * 1000)
    done = o.om.resolve_ambiguous("a1", None)
    assert (done.outcome, done.order, done.transition) == ("not_ambiguous", order, None)
    o.om.submit(entry("b1"))
    t_live = upd("b1", OrderState.LIVE, ord_id="42", source="rest_query")
    settled = o.om.resolve_ambiguous("b1", t_live)
    assert settled.outcome == "settled" and settled.order == o.om.get("b1")
    assert settled.transition is not None and settled.transition.state is OrderState.LIVE


def test_a_fill_is_published_whole_and_one_without_a_price_is_an_error_event(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    req = entry("a1")
    o.om.submit(req)
    d = Decimal
    first = OrderUpdate(
        "a1", INST, OrderState.PARTIALLY_FILLED, ordId="42", accFillSz=d(1), avgPx=d(100), fillSz=d(1),
        fillPx=d(100), tradeId="t9", fillFee=d("-0.01"), execType="T", uTime=1234, source="ws",
    )  # fmt: skip
    o.om.on_update(first)
    second = replace(first, accFillSz=d(2), avgPx=d(101), fillPx=d(102), tradeId="t10", execType="M", uTime=0)
    o.om.on_update(second)  # no exchange time on it: stamped with the clock's
    common: dict[str, Any] = {"instId": INST, "side": req.side, "posSide": req.posSide, "ordId": "42"}
    assert o.events[EventType.ORDER_FILLED] == [
        Fill("a1", fillSz=d(1), fillPx=d(100), accFillSz=d(1), fee=d("-0.01"), tradeId="t9",
             strategy=req.strategy, reduceOnly=False, execType="T", ts=1234, **common),
        Fill("a1", fillSz=d(1), fillPx=d(102), accFillSz=d(2), fee=d("-0.01"), tradeId="t10",
             strategy=req.strategy, reduceOnly=False, execType="M", ts=int(o.clock.now * 1000), **common),
    ]  # fmt: skip
    o.om.on_update(replace(second, accFillSz=d(3), avgPx=None, fillPx=None, fillSz=d(1), tradeId="t11"))
    assert o.events[EventType.ERROR] == [
        {
            "kind": "fill_without_px",
            "message": "a1: fill of 1 without any price; not booked",
            "clOrdId": "a1",
            "fillSz": "1",
            "accFillSz": "3",
        }
    ]


def test_unconfirmed_counts_age_from_the_last_word_up_to_the_boundary(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.sender.fail_next = 1
    o.om.submit(entry("a1"))  # the send failed: ambiguous
    o.om.submit(entry("b1"))
    o.om.on_update(upd("b1", OrderState.LIVE, ord_id="42"))  # acknowledged: nothing to ask
    o.clock.now += 1.999
    assert o.om.unconfirmed(older_than_s=2) == []
    o.clock.now += 0.001
    assert [x.clOrdId for x in o.om.unconfirmed(older_than_s=2)] == ["a1"]
    assert o.om.unconfirmed() == []  # the default is the ambiguity window


def test_a_refused_resize_is_a_stop_failed_event(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(entry("a1"))
    o.om.on_update(upd("a1", OrderState.FILLED, "3", "100"))
    (stop,) = o.algos.working(INST)
    o.sender.fail_next = 1
    now = Position(INST, PosSide.NET, Decimal(1), Decimal(100), uTime=stop.uTime)  # same ms as the stop
    sink = RecordingSink()
    previous = alerts.install(Notifier([sink]))
    try:
        assert o.om.on_position(now) == []
        notifier = alerts.current()
        assert notifier is not None and notifier.flush(5.0)
    finally:
        alerts.install(previous)
    sid = stop.algoClOrdId
    msg = f"resize stop {sid} to 1 failed: injected failure on send_stop {sid}"
    assert o.events[EventType.ERROR] == [{"kind": "stop_failed", "message": msg, "algoClOrdId": sid}]
    (got,) = sink.alerts  # a resize belongs to no one entry: the alert says so with "-"
    assert got == replace(alert_events.stop_failed(sid, "-", msg), ts_ms=got.ts_ms)
    assert o.om.on_position(now) == [sid]  # the next report resizes it


def test_a_clordid_first_seen_in_an_exchange_report_is_compared_by_instrument_and_side(
    redis_client: Redis,
) -> None:
    o = make_oms(redis_client)
    o.om.on_update(replace(upd("a1", OrderState.LIVE, ord_id="9"), side=Side.BUY, sz=Decimal(7)))
    ext = o.om.get("a1")
    assert ext is not None and ext.reason == "external"
    assert o.om.submit(entry("a1")) == ext  # sz 3 here: the report's size and type need not match
    with pytest.raises(DuplicateIntentError):
        o.om.submit(entry("a1", side=Side.SELL))
    with pytest.raises(DuplicateIntentError):
        o.om.submit(replace(entry("a1"), instId="ETH-USDT-SWAP"))


# -- found by mutation testing (#22): each test fails on a mutant that survived the tests above ------------
def test_a_queued_order_is_stamped_and_journaled_and_its_sender_asked_about_the_stores_redis(
    redis_client: Redis, tmp_path: Path
) -> None:
    queue = "test:outbox-queue"
    redis_client.delete(queue)
    sender = QueueingSender(queue)
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    try:
        o = make_oms(redis_client, sender=sender, journal=journal)
        now = int(o.clock.now * 1000)
        o.om.submit(entry("q1"))
        assert sender.asked == [o.store.redis]  # one atomic step is possible only on the store's own Redis
        stored = o.om.get("q1")
        assert stored is not None
        assert (stored.state, stored.cTime, stored.uTime) == (OrderState.SENT, now, now)
        row = journal.order("q1")
        assert row is not None and row.state is OrderState.SENT and row.req == entry("q1")
        assert o.events[EventType.ERROR] == []
    finally:
        journal.close()
        redis_client.delete(queue)


def test_a_failed_send_is_journaled_with_its_error_event(redis_client: Redis, tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    try:
        o = make_oms(redis_client, journal=journal)
        o.sender.fail_next = 1
        assert o.om.submit(entry("a1")).state is OrderState.AMBIGUOUS
        row = journal.order("a1")  # the durable copy exists although the outcome is unknown
        assert row is not None and row.req == entry("a1")
        msg = "a1: send failed, order ambiguous: injected failure on send_order a1"
        assert o.events[EventType.ERROR] == [{"kind": "send_failed", "message": msg, "clOrdId": "a1"}]
        (ev,) = journal.events("send_failed")
        assert (ev.message, ev.data) == (msg, {"clOrdId": "a1"})
    finally:
        journal.close()


def test_an_invalid_algo_id_or_a_long_ord_id_still_resolves_by_ord_id(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    odd = stop_order("not-an-okx-id")  # an algoClOrdId OKX would not accept: not ours, go by ordId
    assert o.om.resolve(odd).clOrdId == "x77" and o.om.get("not-an-okx-id") is None
    long_id = "1" * 40
    t = o.om.on_update(upd("", OrderState.LIVE, ord_id=long_id))
    assert t.order.clOrdId == "x" + "1" * 31  # cut to OKX's 32 characters


def test_a_triggered_market_stop_s_order_is_booked_without_the_reports_price(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.resolve(stop_order("sM1", px=Decimal(95)))  # market: the px OKX shows is no limit price
    booked = o.om.get("sM1")
    assert booked is not None and booked.req.ordType is OrdType.MARKET and booked.req.px is None


def test_one_report_is_one_order_update_and_the_stop_goes_before_the_fill_listeners(
    redis_client: Redis,
) -> None:
    o = make_oms(redis_client)
    o.om.submit(entry("a1"))
    sid = stop_id_for("a1")
    stop_at_fill: list[Decimal | None] = []
    o.bus.subscribe(EventType.ORDER_FILLED, lambda f: stop_at_fill.append(o.sender.stop_size(sid)))
    o.om.on_update(upd("a1", OrderState.PARTIALLY_FILLED, "1", "100", ord_id="7"))
    o.om.on_update(upd("a1", OrderState.PARTIALLY_FILLED, "1", "100", ord_id="7"))  # a duplicate: no change
    assert stop_at_fill == [Decimal(1)]  # rule 3: protected before anyone else hears of the fill
    (update,) = o.events[EventType.ORDER_UPDATE]
    assert update == o.om.get("a1") and update.accFillSz == Decimal(1)


def test_a_late_fill_on_a_cancelled_order_is_booked_and_does_not_cancel_it_again(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(entry("a1"))
    o.om.on_update(upd("a1", OrderState.CANCELED, "0"))
    t = o.om.on_update(upd("a1", OrderState.CANCELED, "1", "100"))  # the cancel's report with its fill
    assert t.filled and t.outbox is not None and not t.outbox.final
    assert len(o.fills("a1")) == 1
    assert [x.clOrdId for x in o.events[EventType.ORDER_CANCELLED]] == ["a1"]


def test_an_exit_fill_is_published_reduce_only(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(exit_("x1"))
    o.om.on_update(upd("x1", OrderState.FILLED, "3", "100"))
    (fill,) = o.fills("x1")
    assert fill.reduceOnly is True and fill.strategy == "s1"


def test_a_manager_without_an_algo_store_still_places_stops(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    om = OrderManager(o.store, o.bus, o.sender, clock=o.clock)  # no AlgoStore: nothing recorded
    om.submit(entry("a1"))
    om.on_update(upd("a1", OrderState.FILLED, "3", "100"))
    assert om.stop_of("a1") is None and o.sender.stop_size(stop_id_for("a1")) == Decimal(3)
    assert om.on_position(Position(INST, PosSide.NET, Decimal(0), None)) == []


def test_a_position_report_is_judged_by_its_own_instruments_stops_only(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(entry("a1"))
    o.om.on_update(upd("a1", OrderState.FILLED, "3", "100"))
    report_ms = int(o.clock.now * 1000)
    o.clock.now += 1
    eth = replace(entry("e1"), instId="ETH-USDT-SWAP")
    o.om.submit(eth)
    o.om.on_update(replace(upd("e1", OrderState.FILLED, "3", "100"), instId="ETH-USDT-SWAP"))
    # a newer stop on ETH does not make the BTC report stale: the BTC stop is shrunk to the position
    btc = Position(INST, PosSide.NET, Decimal(1), Decimal(100), uTime=report_ms)
    assert o.om.on_position(btc) == ["sla1"]
    assert o.sender.stop_size("sla1") == Decimal(1) and o.sender.stop_size(stop_id_for("e1")) == Decimal(3)
