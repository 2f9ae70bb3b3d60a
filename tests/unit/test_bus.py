"""EventBus: handlers in subscription order; a raising handler is logged and the others still run."""

from __future__ import annotations

import logging

import pytest

from athena.bus import EventBus, EventType


def test_raising_handler_is_logged_with_traceback_and_others_run(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    seen: list[tuple[str, object]] = []

    def first(p: object) -> None:
        seen.append(("first", p))

    def broken(p: object) -> None:
        raise ValueError("boom in handler")

    def last(p: object) -> None:
        seen.append(("last", p))

    for h in (first, broken, last):
        bus.subscribe(EventType.ORDER_FILLED, h)
    with caplog.at_level(logging.ERROR, logger="athena.bus"):
        bus.publish(EventType.ORDER_FILLED, 42)
    assert seen == [("first", 42), ("last", 42)]
    assert bus.errors == 1
    (record,) = [r for r in caplog.records if r.name == "athena.bus"]
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    assert "broken" in record.getMessage() and "order_filled" in record.getMessage()
    assert "boom in handler" in caplog.text and "Traceback" in caplog.text


def test_events_are_routed_by_type_and_unsubscribe() -> None:
    bus = EventBus()
    ticks: list[object] = []
    bus.subscribe(EventType.TICK, ticks.append)
    bus.publish(EventType.ERROR, "not for ticks")
    bus.publish(EventType.TICK, 1)
    bus.unsubscribe(EventType.TICK, ticks.append)
    bus.unsubscribe(EventType.TICK, ticks.append)  # twice is harmless
    bus.unsubscribe(EventType.POSITION_UPDATE, ticks.append)  # never subscribed
    bus.publish(EventType.TICK, 2)
    assert ticks == [1]
    assert bus.errors == 0


def test_base_exception_is_not_swallowed() -> None:
    bus = EventBus()

    def stop(_: object) -> None:
        raise KeyboardInterrupt

    bus.subscribe(EventType.TICK, stop)
    with pytest.raises(KeyboardInterrupt):
        bus.publish(EventType.TICK)
