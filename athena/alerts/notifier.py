"""The notifier: every alert to every sink, deduplicated and rate-limited per key, without ever blocking.

notify() is what the trading code calls (the dispatcher, a task, a beat job): it takes a lock for a few
dict operations and puts the alert on each sink's bounded queue, nothing more; it never raises and
never waits. Each sink has a thread of its own that delivers, so a sink that hangs delays only itself
(its requests time out; its queue fills and further alerts for it are dropped and counted) while the
others go on. Failures are logged by sink name and counted (athena_alert_sink_failures_total).

Rate limit: per alert key, at most `max_per_window` alerts in `rate_window_s`; what is held back is
counted (athena_alerts_suppressed_total) and the next one that goes says how many were. With a
SharedGate (the workers and the CLI have one), the same limit also holds across every process of the
account: a condition two workers both see, or one a restarted worker sees again, is sent once. That
check is a Redis round trip, so it runs on a gate thread of its own between notify() and the sinks;
when Redis does not answer the alert goes out (a duplicate is better than a lost alert).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from athena.alerts.events import Alert
from athena.alerts.sinks import Sink, SinkError
from athena.observe.metrics import ALERT_FAILURES, ALERTS_DROPPED, ALERTS_SENT, ALERTS_SUPPRESSED
from athena.state.keys import Keys

log = logging.getLogger(__name__)

_STOP = object()
MAX_KEYS = 10_000  # rate-limit memory: keys idle for a window are forgotten first


class _SinkWorker:
    def __init__(self, sink: Sink, size: int) -> None:
        self.sink = sink
        self.queue: queue.Queue[object] = queue.Queue(maxsize=size)
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.thread = threading.Thread(target=self._run, name=f"alerts-{sink.name}", daemon=True)
        self.thread.start()

    def offer(self, alert: Alert) -> bool:
        try:
            self.queue.put_nowait(alert)
            return True
        except queue.Full:
            self.dropped += 1
            ALERTS_DROPPED.labels(self.sink.name).inc()
            return False

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is _STOP:
                    return
                assert isinstance(item, Alert)
                self._deliver(item)
            finally:
                self.queue.task_done()

    def _deliver(self, alert: Alert) -> None:
        try:
            self.sink.send(alert)
        except SinkError as exc:
            self._failed(alert, str(exc))
        except Exception as exc:  # a sink's bug must not end its thread
            self._failed(alert, f"{self.sink.name}: {type(exc).__name__}")
        else:
            self.sent += 1
            ALERTS_SENT.labels(self.sink.name, alert.event).inc()

    def _failed(self, alert: Alert, why: str) -> None:
        self.failed += 1
        ALERT_FAILURES.labels(self.sink.name).inc()
        log.warning("alert %s not delivered: %s", alert.key, why)

    def idle(self) -> bool:
        return self.queue.unfinished_tasks == 0


_GATE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class SharedGate:
    """The per-key limit across processes: a counter per alert key in Redis that expires with its window."""

    def __init__(self, redis: Any, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._failing = False

    def allow(self, key: str, window_s: float, max_per_window: int) -> bool:
        try:
            n = int(self.redis.eval(_GATE, 1, self.keys.alert_gate(key), max(1, int(window_s * 1000))))
        except Exception as exc:
            if not self._failing:
                log.warning(
                    "alert gate in Redis not reached (%s): alerts go out without it", type(exc).__name__
                )
            self._failing = True
            return True
        self._failing = False
        return n <= max_per_window


class Notifier:
    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        rate_window_s: float = 300.0,
        max_per_window: int = 1,
        queue_size: int = 100,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedGate | None = None,
    ) -> None:
        self.workers = [_SinkWorker(s, queue_size) for s in sinks]
        self.shared = shared
        self._inbox: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        if shared is not None:
            threading.Thread(target=self._gate_loop, name="alerts-gate", daemon=True).start()
        self.rate_window_s = rate_window_s
        self.max_per_window = max_per_window
        self._clock = clock
        self._lock = threading.Lock()
        self._sent: dict[str, deque[float]] = {}
        self._suppressed: dict[str, int] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"<Notifier sinks={[w.sink.name for w in self.workers]}>"

    def notify(self, alert: Alert) -> bool:
        """Queue `alert` for every sink unless its key is over the rate limit. True if queued.
        Never raises."""
        try:
            passed = self._gate(alert)
            if passed is None:
                ALERTS_SUPPRESSED.labels(alert.event).inc()
                return False
            if self.shared is not None:
                try:
                    self._inbox.put_nowait(passed)
                except queue.Full:
                    ALERTS_DROPPED.labels("gate").inc()
                    return False
                return True
            self._fan_out(passed)
            return True
        except Exception:
            log.exception("alert %s not queued", getattr(alert, "key", "?"))
            return False

    def _gate(self, alert: Alert) -> Alert | None:
        now = self._clock()
        with self._lock:
            if self._closed:
                return None
            times = self._sent.setdefault(alert.key, deque())
            while times and now - times[0] >= self.rate_window_s:
                times.popleft()
            if len(times) >= self.max_per_window:
                self._suppressed[alert.key] = self._suppressed.get(alert.key, 0) + 1
                return None
            times.append(now)
            held = self._suppressed.pop(alert.key, 0)
            if len(self._sent) > MAX_KEYS:
                self._forget(now)
        if held:
            return replace(
                alert,
                text=f"{alert.text} ({held} similar alert{'s' if held > 1 else ''} held back "
                f"in the last {self.rate_window_s:.0f} s)",
            )
        return alert

    def _fan_out(self, alert: Alert) -> None:
        for w in self.workers:
            w.offer(alert)

    def _gate_loop(self) -> None:
        assert self.shared is not None
        while True:
            item = self._inbox.get()
            try:
                if item is _STOP:
                    return
                assert isinstance(item, Alert)
                if self.shared.allow(item.key, self.rate_window_s, self.max_per_window):
                    self._fan_out(item)
                else:  # another process of the account sent it within the window
                    ALERTS_SUPPRESSED.labels(item.event).inc()
            except Exception:
                log.exception("alert %s not passed to the sinks", getattr(item, "key", "?"))
            finally:
                self._inbox.task_done()

    def _forget(self, now: float) -> None:
        for key in [k for k, t in self._sent.items() if not t or now - t[-1] >= self.rate_window_s]:
            del self._sent[key]

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait (at most `timeout`) until every queued alert was delivered or failed. True if all were."""
        deadline = time.monotonic() + timeout
        while self._inbox.unfinished_tasks or not all(w.idle() for w in self.workers):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Deliver what is queued (within `timeout`), then end the sink threads."""
        with self._lock:
            self._closed = True
        self.flush(timeout)
        if self.shared is not None:
            try:
                self._inbox.put_nowait(_STOP)
            except queue.Full:
                pass
        for w in self.workers:
            try:
                w.queue.put_nowait(_STOP)
            except queue.Full:
                pass  # a hung sink: its daemon thread dies with the process
            close = getattr(w.sink, "close", None)
            if close is not None:
                close()

    def stats(self) -> dict[str, dict[str, int]]:
        return {w.sink.name: {"sent": w.sent, "failed": w.failed, "dropped": w.dropped} for w in self.workers}
