"""WsConnection: one OKX WebSocket kept alive in its own daemon thread (websocket-client).

- sends the text "ping" when nothing arrived for `ping_interval_s` (< 30 s, OKX's idle rule);
- a watchdog (default 30 s, OKX's idle rule) reconnects when nothing at all (not even "pong") arrived for
  `stall_timeout_s`, or when the connection is not healthy (no subscribe ack / login) that long after
  connecting; with `data_watchdog=True` (market data) it also reconnects after `stall_timeout_s` without a
  data message even while pongs still arrive (a feed that went silent on a live socket);
- reconnects with exponential backoff and jitter (`backoff_initial_s` 1 s -> `backoff_max_s` 60 s, each
  delay drawn from [0.8, 1.0] x the step), never in a tight loop; the backoff resets only after a
  connection became healthy (subscribed / logged in);
- keeps the desired subscriptions and sends each exactly once per connection (no duplicates);
- counts messages, reconnects and malformed frames by kind; logs each malformed kind once with the
  raw text cut to 200 chars; nothing a peer sends can kill the thread;
- stop() closes the socket and joins the thread;
- after each data message it yields the GIL (`yield_gil`, on by default), so the dispatcher thread
  the message's events were handed to runs now instead of after the burst: see _pump.
Subclasses implement on_message(raw) and may override on_open() (e.g. to log in first).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

import orjson
import websocket
from websocket import ABNF

from athena.fastpath.ws_frames import FrameReader, Frames, frame_reader

log = logging.getLogger(__name__)

MAX_LOGGED_KINDS = 64  # log-once keys per connection (bounded: codes come from the peer)

SubKey = tuple[tuple[str, str], ...]

# Releases the GIL and lets a runnable thread (the dispatcher woken by the put) take it: ~2 µs when
# nobody waits. time.sleep(0) would do too but sleeps ~60 µs (timer slack) on every message.
_yield_gil = getattr(os, "sched_yield", None) or (lambda: time.sleep(0))


def sub_key(arg: dict[str, Any]) -> SubKey:
    return tuple(sorted((str(k), str(v)) for k, v in arg.items()))


class WsStats:
    """Counters of one connection (read from any thread; written only by the connection thread)."""

    def __init__(self) -> None:
        self.messages = 0
        self.connects = 0
        self.reconnects = 0
        self.connect_failures = 0
        self.stalls = 0
        self.pings = 0
        self.pongs = 0
        self.notices = 0  # controlled reconnects asked for by OKX (service-upgrade notice)
        self.subscribes_sent = 0
        self.sub_acks = 0
        self.errors: Counter[str] = Counter()  # OKX error events by code
        self.malformed: Counter[str] = Counter()
        # time.monotonic() of the last data message and of the last frame of any kind (pongs too);
        # 0.0 = none yet. Monotonic: the receive loop already has it, no extra clock read per message.
        self.last_data_mono = 0.0
        self.last_rx_mono = 0.0

    def age_s(self, which: str = "data", now_mono: float | None = None) -> float | None:
        """Seconds since the last data message ("data") or frame ("rx"); None when there was none."""
        mono = self.last_data_mono if which == "data" else self.last_rx_mono
        if not mono:
            return None
        return max(0.0, (time.monotonic() if now_mono is None else now_mono) - mono)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in vars(self).items() if not isinstance(v, Counter) and not k.endswith("_mono")}
        d["errors"] = dict(self.errors)
        d["malformed"] = dict(self.malformed)
        return d


class WsConnection:
    def __init__(
        self,
        url: str,
        name: str = "okx-ws",
        *,
        ping_interval_s: float = 20.0,
        stall_timeout_s: float = 30.0,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        data_watchdog: bool = False,
        yield_gil: bool = True,
    ) -> None:
        if not 0 < ping_interval_s < stall_timeout_s:
            raise ValueError("need 0 < ping_interval_s < stall_timeout_s")
        self.url = url
        self.name = name
        self.ping_interval_s = ping_interval_s
        self.stall_timeout_s = stall_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = max(backoff_max_s, backoff_initial_s)
        self.connect_timeout_s = connect_timeout_s
        self.data_watchdog = data_watchdog
        self.yield_gil = yield_gil
        self.stats = WsStats()
        self._reconnect_now = False  # set on the connection thread: end this session, reconnect at once
        self._poll_s = max(0.02, min(1.0, ping_interval_s / 4))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ws: websocket.WebSocket | None = None
        self._lock = threading.RLock()
        self._desired: dict[SubKey, dict[str, Any]] = {}
        self._sent: set[SubKey] = set()  # subscriptions sent on the current connection
        self._ready = False  # may subscribe (after login for private connections)
        self._healthy = False
        self._halted = False
        self._logged: set[str] = set()
        self.connected = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._abort()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def link_state(self) -> str:
        """stopped | connecting (no socket: connecting or waiting to reconnect) | subscribing
        (connected, no subscription answer or data yet) | ready."""
        if self._thread is None or self._halted or self._stop.is_set():
            return "stopped"
        if self._ws is None:
            return "connecting"
        return "ready" if self._healthy else "subscribing"

    def force_reconnect(self) -> None:
        """Drop the current connection; the thread reconnects (after the backoff)."""
        self._abort()

    def reconnect_now(self, why: str) -> None:
        """A controlled reconnect, called on the connection thread (from on_message): the session ends
        after this message with a clean close, and the next connection opens at once, without the
        backoff. OKX's service-upgrade notice (64008) asks for it about 60 s before it closes the
        connection itself: reconnecting now keeps the gap short and puts it where we choose."""
        self.stats.notices += 1
        self._reconnect_now = True
        log.warning("%s: %s: reconnecting now (controlled)", self.name, why)

    def halt(self) -> None:
        """Stop reconnecting (e.g. after repeated auth failures); the thread ends."""
        self._halted = True
        self._abort()

    def _abort(self) -> None:
        ws = self._ws
        if ws is not None:
            try:
                ws.abort()  # type: ignore[no-untyped-call]
            except Exception:
                pass

    # -- subscriptions --------------------------------------------------------------------------
    def subscribe(self, args: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            for a in args:
                self._desired.setdefault(sub_key(a), dict(a))
            if self._ready:
                self._send_pending()

    def unsubscribe(self, args: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            out = []
            for a in args:
                k = sub_key(a)
                self._desired.pop(k, None)
                if k in self._sent:
                    self._sent.discard(k)
                    out.append(a)
            if out:
                self.send_json({"op": "unsubscribe", "args": out})

    def resubscribe(self, arg: dict[str, Any]) -> None:
        """Unsubscribe and subscribe again on this connection (e.g. to get a fresh books snapshot)."""
        with self._lock:
            k = sub_key(arg)
            if k in self._sent:
                self.send_json({"op": "unsubscribe", "args": [arg]})
                self._sent.discard(k)
            self._desired.setdefault(k, dict(arg))
            if self._ready:
                self._send_pending()

    def _send_pending(self) -> None:
        pending = [(k, a) for k, a in self._desired.items() if k not in self._sent]
        if not pending:
            return
        if self.send_json({"op": "subscribe", "args": [a for _, a in pending]}):
            self._sent.update(k for k, _ in pending)
            self.stats.subscribes_sent += len(pending)

    def set_ready(self) -> None:
        """The connection may subscribe now: send every desired subscription not yet sent."""
        with self._lock:
            self._ready = True
            self._send_pending()

    def mark_healthy(self) -> None:
        self._healthy = True

    @property
    def subscriptions(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._desired.values())

    # -- sending --------------------------------------------------------------------------------
    def send(self, text: str) -> bool:
        ws = self._ws
        if ws is None:
            return False
        try:
            ws.send(text)
            return True
        except Exception as exc:
            self._log_once("send", f"{self.name}: send failed: {type(exc).__name__}")
            return False

    def send_json(self, obj: Any) -> bool:
        return self.send(orjson.dumps(obj).decode())

    # -- hooks ----------------------------------------------------------------------------------
    def on_open(self) -> None:
        """Called on the connection thread after each connect. Default: subscribe right away."""
        self.set_ready()

    def on_message(self, raw: bytes) -> None:
        raise NotImplementedError

    def on_close(self) -> None:
        """Called after each disconnect."""

    # -- diagnostics ----------------------------------------------------------------------------
    def malformed(self, kind: str, raw: bytes | str) -> None:
        self.stats.malformed[kind] += 1
        if kind not in self._logged and len(self._logged) < MAX_LOGGED_KINDS:
            self._logged.add(kind)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            log.warning("%s: malformed %s message (further ones only counted): %.200s", self.name, kind, text)

    def _log_once(self, kind: str, msg: str) -> None:
        if kind in self._logged:
            return
        if len(self._logged) >= MAX_LOGGED_KINDS:
            # a peer can make up any number of error codes: past this many, one line for all of them
            kind, msg = (
                "log_once_overflow",
                f"{self.name}: too many distinct message kinds; further ones only counted",
            )
            if kind in self._logged:
                return
        self._logged.add(kind)
        log.warning(msg)

    # -- the thread -----------------------------------------------------------------------------
    def backoff_delay(self, attempt: int) -> float:
        """Delay before reconnect attempt `attempt` (0 after a healthy connection): initial * 2^attempt capped
        at max, times a jitter in [0.8, 1.0] so many clients dropped together do not reconnect in step."""
        base = min(self.backoff_max_s, self.backoff_initial_s * (2.0 ** min(attempt, 30)))
        return base * random.uniform(0.8, 1.0)

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set() and not self._halted:
            healthy = False
            try:
                healthy = self._session()
            except Exception:
                log.exception("%s: connection loop error", self.name)
            if self._stop.is_set() or self._halted:
                break
            if self._reconnect_now:  # asked for (a notice): no backoff, the old session closed cleanly
                self._reconnect_now = False
                attempt = 0
                continue
            attempt = 0 if healthy else attempt + 1
            delay = self.backoff_delay(attempt)
            log.info("%s: reconnecting in %.2fs", self.name, delay)
            self._stop.wait(delay)

    def _session(self) -> bool:
        """One connection from connect to close. True when it became healthy."""
        try:
            ws = websocket.create_connection(
                self.url, timeout=self.connect_timeout_s, skip_utf8_validation=True, enable_multithread=True
            )
        except Exception as exc:
            self.stats.connect_failures += 1
            log.info("%s: connect to %s failed: %s", self.name, self.url, type(exc).__name__)
            return False
        frames = frame_reader(ws)  # athena/fastpath/ws_frames.py: ours, or websocket-client's recv_data
        with self._lock:
            self._ws = ws
            self._sent.clear()
            self._ready = False
            self._healthy = False
        self.stats.connects += 1
        if self.stats.connects > 1:
            self.stats.reconnects += 1
        self.connected.set()
        try:
            ws.settimeout(self._poll_s)
            self._pump(ws, frames)
        finally:
            self.connected.clear()
            with self._lock:
                self._ws = None
                self._ready = False
                self._sent.clear()
            try:
                ws.close(timeout=0.2)
            except Exception:
                pass
            # close() does nothing once websocket-client's recv_data answered the server's close (the plain
            # frames path): the socket would stay open until garbage collection.
            try:
                ws.shutdown()  # type: ignore[no-untyped-call]  # websocket-client: untyped
            except Exception:
                pass
            try:
                self.on_close()
            except Exception:
                log.exception("%s: on_close failed", self.name)
        return self._healthy

    def _pump(self, ws: websocket.WebSocket, frames: Frames | None = None) -> None:
        now = time.monotonic
        opened = last_rx = last_ping = last_data = now()
        data_watchdog = self.data_watchdog
        self.on_open()
        stop = self._stop
        stats = self.stats
        on_message = self.on_message
        # The events on_message handed over wake the dispatcher, but it cannot run before this thread
        # lets go of the GIL: without a yield it would wait until the whole burst in the socket buffer
        # is parsed (measured: a fill's OrderUpdate waited ~0.2-0.3 ms for the position and account
        # frames behind it; ticks of 10 instruments ~0.8 ms p50) or the 5 ms switch interval.
        yield_gil = _yield_gil if self.yield_gil else None
        reader = frames or FrameReader(ws)
        while not stop.is_set() and not self._halted:
            try:
                opcode, data = reader.next()
            except websocket.WebSocketTimeoutException:
                t = now()
                idle = t - last_rx
                if idle >= self.stall_timeout_s:
                    stats.stalls += 1
                    log.warning("%s: no data for %.1fs, reconnecting", self.name, idle)
                    return
                if data_watchdog and self._healthy and t - last_data >= self.stall_timeout_s:
                    stats.stalls += 1  # pongs still come back but the feed went silent
                    log.warning("%s: no market data for %.1fs, reconnecting", self.name, t - last_data)
                    return
                if not self._healthy and t - opened >= self.stall_timeout_s:
                    stats.stalls += 1  # pongs only: no login / subscription answer
                    log.warning(
                        "%s: no login/subscribe answer after %.1fs, reconnecting", self.name, t - opened
                    )
                    return
                if idle >= self.ping_interval_s and t - last_ping >= self.ping_interval_s:
                    last_ping = t
                    stats.pings += 1
                    self.send("ping")
                continue
            except Exception as exc:  # closed, reset, aborted, protocol error
                if not stop.is_set():
                    log.info("%s: connection lost: %s", self.name, type(exc).__name__)
                return
            last_rx = stats.last_rx_mono = now()
            if opcode == ABNF.OPCODE_CLOSE:
                return
            if data == b"pong":
                stats.pongs += 1
                continue
            stats.messages += 1
            last_data = stats.last_data_mono = last_rx
            try:
                on_message(data)
            except Exception as exc:  # a bad frame or a failing callback never kills the thread
                self.malformed("handler:" + type(exc).__name__, data)
            if self._reconnect_now:
                return
            if yield_gil is not None:
                yield_gil()
