"""WsOrderEntry: the orders worker's own logged-in private WebSocket for OKX's trade ops (`op: order`).

One connection per orders worker process, no subscriptions (the stream worker holds the pushes). A request
goes out as `{"id", "op", "args", "expTime"}` and its reply is matched by `id`. The ambiguity rules are
REST's: a frame that never left (not logged in, no socket) is WsNotSent and the caller uses REST instead;
a frame that left and got no reply within the timeout, or whose connection dropped before the reply, is
OkxAmbiguous, settled by a query by clOrdId exactly as a REST timeout is. The reply's envelope has REST's
shape (code, msg, data items with sCode/sMsg), so OkxRestGateway reads it with the same code.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

import orjson

from athena.okx.errors import OkxAmbiguous
from athena.okx.private_ws import PrivateConnection
from athena.okx.signing import Clock, Credentials

log = logging.getLogger(__name__)

TRADE_OPS = frozenset(
    {"order", "batch-orders", "cancel-order", "batch-cancel-orders", "amend-order", "batch-amend-orders"}
)


class WsNotSent(Exception):
    """The request was not written to the WebSocket: nothing reached the exchange, send it by REST."""


class _Reply:
    __slots__ = ("env", "event", "lost")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.env: dict[str, Any] | None = None
        self.lost = False  # the connection closed before the reply


class WsOrderEntry(PrivateConnection):
    """`ready` once logged in. `request()` is thread-safe (the orders worker's threads pool shares it)."""

    def __init__(
        self,
        url: str,
        creds: Credentials,
        *,
        clock: Clock | None = None,
        server_time: Callable[[], int] | None = None,
        name: str = "okx-trade",
        **ws_opts: Any,
    ) -> None:
        super().__init__(
            url, creds, lambda _event: None, clock=clock, server_time=server_time, name=name, **ws_opts
        )
        self._waiting: dict[str, _Reply] = {}
        self._waiting_lock = threading.Lock()
        self._ids = itertools.count(1)
        # ids are at most 32 alphanumerics; a per-process prefix keeps a late reply of an earlier
        # connection from ever matching a new request
        self._id_prefix = secrets.token_hex(4)
        self.stats_ops = {"sent": 0, "answered": 0, "no_answer": 0, "lost": 0}

    def __repr__(self) -> str:
        return f"WsOrderEntry({self.url!r}, state={self.state})"

    @property
    def ready(self) -> bool:
        return self.state == "ready" and self._ws is not None

    def request(
        self, op: str, args: list[dict[str, Any]], *, timeout_s: float, exp_time_ms: int = 0
    ) -> dict[str, Any]:
        """Send one trade op; its reply envelope. WsNotSent: not sent (use REST). OkxAmbiguous: sent,
        no reply in timeout_s or the connection dropped first (the op may have run)."""
        if op not in TRADE_OPS:
            raise ValueError(f"not a trade op: {op}")
        ws = self._ws
        if self.state != "ready" or ws is None:
            raise WsNotSent(f"{self.name}: not logged in ({self.state})")
        rid = f"{self._id_prefix}{next(self._ids)}"
        msg: dict[str, Any] = {"id": rid, "op": op, "args": args}
        if exp_time_ms:
            msg["expTime"] = str(self.clock.now_ms() + exp_time_ms)  # the exchange's clock
        reply = _Reply()
        with self._waiting_lock:
            self._waiting[rid] = reply
        try:
            try:
                ws.send(orjson.dumps(msg).decode())
            except Exception as exc:
                # some bytes of the frame may have left before the socket failed: never "not sent"
                self.force_reconnect()
                raise OkxAmbiguous(f"WebSocket send failed: {type(exc).__name__}", path=op) from None
            self.stats_ops["sent"] += 1
            if not reply.event.wait(timeout_s):
                self.stats_ops["no_answer"] += 1
                raise OkxAmbiguous(f"no answer on the WebSocket within {timeout_s:g}s", path=op)
            if reply.env is None:
                self.stats_ops["lost"] += 1
                raise OkxAmbiguous("WebSocket closed before the answer", path=op)
            self.stats_ops["answered"] += 1
            return reply.env
        finally:
            with self._waiting_lock:
                self._waiting.pop(rid, None)

    # -- the connection thread ----------------------------------------------------------------------
    def on_message(self, raw: bytes) -> None:
        if b'"op"' in raw:
            try:
                msg = orjson.loads(raw)
            except orjson.JSONDecodeError:
                self.malformed("json", raw)
                return
            if isinstance(msg, dict) and msg.get("op") in TRADE_OPS:
                with self._waiting_lock:
                    reply = self._waiting.get(str(msg.get("id") or ""))
                if reply is None:  # timed out already (its caller reported it AMBIGUOUS), or not ours
                    self.malformed("unmatched_reply", raw)
                    return
                reply.env = msg
                reply.event.set()
                return
        super().on_message(raw)

    def on_close(self) -> None:
        super().on_close()
        with self._waiting_lock:
            waiting = list(self._waiting.values())
        for reply in waiting:  # each caller raises OkxAmbiguous: the frame went, the answer never came
            reply.lost = True
            reply.event.set()

    def _maybe_resync(self) -> None:
        """No subscriptions on this connection: there is nothing to resync after a login."""


__all__ = ["TRADE_OPS", "WsNotSent", "WsOrderEntry"]
