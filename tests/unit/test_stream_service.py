"""StreamService's dispatcher and inbox (athena.process.stream_service): events are handled in order on one
thread that does no I/O of its own between events; mark prices and the status snapshot are written
by the housekeeping thread; the WebSocket thread yields the GIL after each message it handed over."""

from __future__ import annotations

import queue
import threading
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

import athena.okx.ws as ws_mod
from athena.bus import EventBus, EventType
from athena.domain import BookTop, Trade
from athena.domain.market import Level
from athena.okx.ws import WsConnection
from athena.process.stream_service import StreamService
from athena.state.keys import Keys
from tests.waiting import wait_for

INST = "BTC-USDT-SWAP"


class FakeMarks:
    def __init__(self) -> None:
        self.writes: list[tuple[str, Decimal, str]] = []
        self.fail = False

    def set(self, instId: str, px: Decimal) -> None:
        if self.fail:
            raise ConnectionError("redis down")
        self.writes.append((instId, px, threading.current_thread().name))


class FakeRedis:
    def __init__(self) -> None:
        self.sets: list[str] = []

    def set(self, key: str, value: Any, ex: int | None = None) -> None:
        self.sets.append(key)


def service() -> StreamService:
    inst = SimpleNamespace(round_px=lambda px: px.quantize(Decimal("0.1")))
    engine = SimpleNamespace(
        settings=SimpleNamespace(), bus=EventBus(), marks=FakeMarks(), instruments={INST: inst},
        redis=FakeRedis(),
        keys=Keys("test", "dispatch"),
    )  # fmt: skip
    return StreamService(engine)  # type: ignore[arg-type]


def book(bid: str, ask: str) -> BookTop:
    return BookTop(INST, (Level(Decimal(bid), Decimal(1)),), (Level(Decimal(ask), Decimal(1)),), ts=1)


def trade(i: int) -> Trade:
    return Trade(INST, str(i), Decimal("100"), Decimal("1"), "buy", i)


class RecordingInbox(queue.SimpleQueue):  # type: ignore[type-arg]
    """The dispatcher's inbox, noting how each get() was called (block, timeout)."""

    def __init__(self) -> None:
        self.gets: list[tuple[bool, float | None]] = []

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        self.gets.append((block, timeout))
        return super().get(block, timeout)


def test_dispatcher_handles_in_order_survives_a_failing_event_and_stops_without_polling() -> None:
    svc = service()
    seen: list[tuple[int, str]] = []
    svc.engine.bus.subscribe(
        EventType.TICK, lambda t: seen.append((t.trade.ts, threading.current_thread().name))
    )
    handle = svc.handle

    def flaky(item: Any) -> None:
        if item == "boom":
            raise ValueError("bad event")
        handle(item)

    svc.handle = flaky  # type: ignore[method-assign]
    svc.inbox = inbox = RecordingInbox()
    svc._spawn("athena-dispatcher", svc._dispatch_loop)
    for i in range(50):
        svc.inbox.put(trade(i))
        if i == 10:
            svc.inbox.put("boom")
    wait_for(lambda: len(seen) >= 50, what="50 ticks dispatched")
    assert [ts for ts, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"athena-dispatcher"}
    assert svc.stats.handler_errors == 1
    t = svc._threads[0]
    svc.stop(timeout=30)
    assert not t.is_alive()
    # it only ever blocked on the inbox, without a timeout: the stop marker woke it, not a timed poll
    assert set(inbox.gets) == {(True, None)} and len(inbox.gets) == 50 + 1 + 1


def test_tick_path_writes_only_the_first_mark_the_rest_is_housekeeping() -> None:
    svc = service()
    marks: FakeMarks = svc.engine.marks  # type: ignore[assignment]
    svc.handle(book("100.0", "100.2"))  # first book of the instrument: written at once
    assert marks.writes == [(INST, Decimal("100.1"), threading.current_thread().name)]
    for i in range(20):
        svc.handle(book(f"{101 + i}.0", f"{101 + i}.2"))
    assert len(marks.writes) == 1  # no I/O on the tick path
    svc._write_marks()
    assert marks.writes[-1][:2] == (INST, Decimal("120.1"))  # the latest mid
    svc._write_marks()
    assert len(marks.writes) == 2  # unchanged: not written again


def test_a_failing_mark_write_does_not_stop_the_tick_and_is_retried() -> None:
    svc = service()
    marks: FakeMarks = svc.engine.marks  # type: ignore[assignment]
    ticks: list[Any] = []
    svc.engine.bus.subscribe(EventType.TICK, ticks.append)
    marks.fail = True
    svc.handle(book("100.0", "100.2"))
    svc.handle(book("100.0", "100.4"))
    assert len(ticks) == 2 and marks.writes == []
    svc._write_marks()
    marks.fail = False
    svc._write_marks()
    assert marks.writes[-1][:2] == (INST, Decimal("100.2"))


def test_housekeeping_thread_writes_marks_and_status() -> None:
    svc = service()
    svc.handle(book("100.0", "100.2"))
    svc.handle(book("100.4", "100.6"))
    svc._spawn("athena-housekeeping", svc._housekeeping_loop)
    marks: FakeMarks = svc.engine.marks  # type: ignore[assignment]
    wait_for(lambda: len(marks.writes) >= 2, what="the housekeeping thread's mark write")
    svc.stop(timeout=30)
    assert marks.writes[1] == (INST, Decimal("100.5"), "athena-housekeeping")
    assert svc.engine.keys.stream_status in svc.engine.redis.sets  # type: ignore[attr-defined]


def frame(payload: bytes) -> bytes:  # one unmasked text frame (< 126 bytes)
    return bytes([0x81, len(payload)]) + payload


class FakeWs:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def _recv(self, n: int) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""  # b"": closed, _pump returns


class Recorder(WsConnection):
    def __init__(self, log: list[str], **kw: Any) -> None:
        super().__init__("ws://unused", "test-ws", **kw)
        self.log = log

    def on_message(self, raw: bytes) -> None:
        self.log.append(raw.decode())


@pytest.mark.parametrize("enabled", [True, False])
def test_ws_thread_yields_the_gil_after_each_message(monkeypatch: pytest.MonkeyPatch, enabled: bool) -> None:
    log: list[str] = []
    monkeypatch.setattr(ws_mod, "_yield_gil", lambda: log.append("yield"))
    conn = Recorder(log, yield_gil=enabled)
    conn._pump(FakeWs([frame(b"a") + frame(b"pong") + frame(b"b"), frame(b"c")]))  # type: ignore[arg-type]
    if enabled:
        assert log == ["a", "yield", "b", "yield", "c", "yield"]  # not after a pong
    else:
        assert log == ["a", "b", "c"]


def test_deferred_journal_rows_are_written_when_no_event_waits_and_at_stop() -> None:
    """OrderManager.defer_journal: the dispatcher writes a non-terminal update's journal row only once the
    inbox is empty (a fill right behind a `live` update is not kept waiting by it), and the rows still owed
    when it stops."""
    svc = service()
    svc.engine.orders = SimpleNamespace(defer_journal=None)  # type: ignore[attr-defined]
    seen: list[str] = []
    handle = svc.handle

    def with_updates(item: Any) -> None:
        if isinstance(item, str):  # an order update whose journal row is deferred
            seen.append(item)
            svc.engine.orders.defer_journal(lambda: seen.append(f"row {item}"))  # type: ignore[attr-defined]
        else:
            handle(item)

    svc.handle = with_updates  # type: ignore[method-assign]
    svc.engine.bus.subscribe(EventType.TICK, lambda t: seen.append(f"tick {t.trade.ts}"))
    for item in ("live", trade(1), trade(2), trade(3)):  # queued before the dispatcher starts
        svc.inbox.put(item)
    svc._spawn("athena-dispatcher", svc._dispatch_loop)
    wait_for(lambda: "row live" in seen, what="the deferred row")
    assert seen == ["live", "tick 1", "tick 2", "tick 3", "row live"]
    svc.inbox.put("partial")
    svc.stop(timeout=30)
    assert seen[-2:] == ["partial", "row partial"]  # owed at stop: written before the dispatcher ended
    assert svc.engine.orders.defer_journal is None  # type: ignore[attr-defined]
