"""OkxPrivateWsGateway: login, then orders / positions / account (private URL) and orders-algo
(business URL, optional) -> OrderUpdate / Position / Balance / AlgoOrder events.

A login failure surfaces as OkxAuthError through on_error and `state`; the connection backs off and
halts after `max_auth_failures` consecutive failures instead of retrying forever.

No push is lost silently: after every login, once each channel of that connection acknowledged its
subscription, a `PrivateResync` event goes through `on_event` (and `on_resync` when given). Pushes
sent while the connection was down are gone for good, so on `PrivateResync(reconnected=True)` the
consumer must reconcile by REST. The stream service does this by handing the event to the orders
worker's `athena.reconcile` task (query every locally working order by clOrdId, orders-pending,
positions, algos-pending) and applying the results through the same monotonic OrderManager path as
pushes; duplicates between REST and later pushes are harmless there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from athena.okx import parse
from athena.okx.errors import WS_TIMESTAMP_EXPIRED, OkxAuthError, OkxError, ParseError, classify
from athena.okx.signing import Clock, Credentials, ws_login_args
from athena.okx.types import PrivateResync
from athena.okx.ws import WsConnection

log = logging.getLogger(__name__)

_JSON_ERRORS = (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError, AttributeError)
_PARSERS: dict[str, Callable[[Any], Any]] = {
    "orders": lambda row: parse.order_update(row, source="ws"),
    "positions": parse.position,
    "account": parse.balance,
    "orders-algo": parse.algo_order,
}


class PrivateConnection(WsConnection):
    """One logged-in connection. state: connecting | logging_in | ready | auth_failed | stopped."""

    def __init__(
        self,
        url: str,
        creds: Credentials,
        on_event: Callable[[Any], None],
        on_error: Callable[[OkxError], None] | None = None,
        *,
        clock: Clock | None = None,
        max_auth_failures: int = 3,
        name: str = "okx-private",
        on_resync: Callable[[PrivateResync], None] | None = None,
        server_time: Callable[[], int] | None = None,
        **ws_opts: Any,
    ) -> None:
        super().__init__(url, name, **ws_opts)
        self._creds = creds
        # the exchange's clock (ms, e.g. OkxRestGateway.server_time): a login refused for its timestamp
        # (60006, clock skew) re-measures the offset and logs in again instead of counting an auth failure
        self.server_time = server_time
        self._resynced_login = False  # the last login failure already re-measured the clock
        self.clock_resyncs = 0
        self.on_event = on_event
        self.on_error = on_error or (lambda _e: None)
        self.on_resync = on_resync
        self.resyncs = 0
        self._awaiting: set[str] = set()  # channels not yet acknowledged since this login
        self._down_since: float | None = None  # monotonic time the previous connection was lost
        self.clock = clock or Clock()
        self.max_auth_failures = max_auth_failures
        self.auth_failures = 0
        self.logins = 0
        self.state = "connecting"
        self.last_error: OkxError | None = None

    def __repr__(self) -> str:
        return f"PrivateConnection({self.url!r}, state={self.state})"

    def on_open(self) -> None:
        self.state = "logging_in"
        self.send_json({"op": "login", "args": [ws_login_args(self._creds, self.clock.now_ms() // 1000)]})

    def on_close(self) -> None:
        if self._down_since is None and self.logins:
            self._down_since = time.monotonic()
        self._awaiting = set()
        if self.state not in ("auth_failed", "stopped"):
            self.state = "connecting"

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        if self.state != "auth_failed":
            self.state = "stopped"

    def _error(self, err: OkxError) -> None:
        self.last_error = err
        try:
            self.on_error(err)
        except Exception:
            log.exception("%s: on_error callback failed", self.name)

    def on_message(self, raw: bytes) -> None:
        try:
            msg = orjson.loads(raw)
            data = msg.get("data")
        except _JSON_ERRORS:
            self.malformed("json", raw)
            return
        if data is not None:
            self._on_push(msg, data, raw)
            return
        event = msg.get("event")
        code = str(msg.get("code", ""))
        if event == "login":
            if code in ("", "0"):
                self.logins += 1
                self.auth_failures = 0
                self._resynced_login = False
                self.state = "ready"
                self.mark_healthy()
                self._awaiting = {str(a.get("channel")) for a in self.subscriptions}
                self.set_ready()
                self._maybe_resync()
            else:
                self._login_failed(code, str(msg.get("msg", "")))
        elif event == "error":
            self.stats.errors[code] += 1
            if self.state == "logging_in" or isinstance(classify(code, ""), OkxAuthError):
                self._login_failed(code, str(msg.get("msg", "")))
            else:
                self._log_once("error:" + code, f"{self.name}: OKX error event {str(msg)[:200]}")
                self._error(OkxError(str(msg.get("msg", "OKX WS error"))[:200], code, path=self.name))
        elif event == "subscribe":
            self.stats.sub_acks += 1
            arg = msg.get("arg")
            if self._awaiting and isinstance(arg, dict):
                self._awaiting.discard(str(arg.get("channel")))
                self._maybe_resync()
        elif event == "notice":  # 64008: OKX will close this connection for a service upgrade
            self.reconnect_now(f"OKX notice {msg.get('code')!s}: {str(msg.get('msg'))[:120]}")
        elif event not in ("unsubscribe", "channel-conn-count", "channel-conn-count-error"):
            self.malformed("unexpected", raw)

    def _maybe_resync(self) -> None:
        """Every channel is live again: tell the consumer to reconcile what it may have missed."""
        if self._awaiting or self.state != "ready":
            return
        self._awaiting = set()
        down, self._down_since = self._down_since, None
        gap = None if down is None or self.logins <= 1 else int((time.monotonic() - down) * 1000)
        event = PrivateResync(
            self.name, self.logins, gap, tuple(str(a.get("channel")) for a in self.subscriptions)
        )
        self.resyncs += 1
        if event.reconnected:
            log.warning(
                "%s: re-logged in after %s ms down; pushes in the gap are lost, REST resync requested",
                self.name,
                gap,
            )
        for fn in (self.on_event, self.on_resync):
            if fn is not None:
                try:
                    fn(event)
                except Exception:
                    log.exception("%s: resync callback failed", self.name)

    def _resync_clock(self) -> str:
        """Measure the exchange's clock again (the signature's timestamp was refused): "resynced", "failed"
        (the exchange's clock could not be read: REST down too) or "no" (no clock source, or already
        re-measured since the last login: the skew is not the reason)."""
        if self.server_time is None or self._resynced_login:
            return "no"
        try:
            t0 = time.time() * 1000
            server_ms = self.server_time()
            t1 = time.time() * 1000
        except Exception as exc:
            log.warning(
                "%s: login timestamp refused and the exchange's clock unreadable (%s): trying again later",
                self.name,
                exc,
            )
            return "failed"
        self._resynced_login = True
        self.clock.update(server_ms, t0, t1)
        self.clock_resyncs += 1
        log.warning(
            "%s: login timestamp refused (clock skew): clock offset now %d ms, logging in again",
            self.name,
            self.clock.offset_ms,
        )
        return "resynced"

    def _login_failed(self, code: str, text: str) -> None:
        resync = self._resync_clock() if code == WS_TIMESTAMP_EXPIRED else "no"
        if resync == "resynced":
            self.state = "connecting"
            self._reconnect_now = True  # at once, without the backoff: the next login carries the right time
            return
        if resync == "failed":
            # A clock problem, not the credentials: never counted towards the auth halt (a maintenance
            # that takes REST down while the clock is off must not leave the worker deaf for good).
            self.state = "connecting"
            self.force_reconnect()  # with the backoff; the next refusal tries to re-measure again
            return
        self.auth_failures += 1
        err = OkxAuthError(f"WebSocket login failed: {text[:120]}", code, path=self.name)
        log.error(
            "%s: login failed (code %s), failure %d of %d",
            self.name,
            code,
            self.auth_failures,
            self.max_auth_failures,
        )
        if self.auth_failures >= self.max_auth_failures:
            self.state = "auth_failed"
            self._error(err)
            self.halt()
        else:
            self.state = "connecting"
            self._error(err)
            self.force_reconnect()  # backoff grows: the connection never became healthy

    def _on_push(self, msg: dict[str, Any], data: Any, raw: bytes) -> None:
        try:
            channel = msg["arg"]["channel"]
            conv = _PARSERS[channel]
            rows = list(data)
        except _JSON_ERRORS:
            self.malformed("unknown_channel", raw)
            return
        emit = self.on_event
        for row in rows:
            try:
                obj = conv(row)
            except ParseError:
                self.malformed(channel, raw)
                continue
            emit(obj)


class OkxPrivateWsGateway:
    """orders + positions + account on `url`; orders-algo on `business_url` when given."""

    def __init__(
        self,
        url: str,
        api_key: str = "",
        secret: str = "",
        passphrase: str = "",
        on_event: Callable[[Any], None] | None = None,
        *,
        credentials: Credentials | None = None,
        business_url: str | None = None,
        on_error: Callable[[OkxError], None] | None = None,
        inst_type: str = "SWAP",
        channels: tuple[str, ...] = ("orders", "positions", "account"),
        clock: Clock | None = None,
        max_auth_failures: int = 3,
        on_resync: Callable[[PrivateResync], None] | None = None,
        server_time: Callable[[], int] | None = None,
        **ws_opts: Any,
    ) -> None:
        creds = credentials or Credentials(api_key, secret, passphrase)
        emit = on_event or (lambda _obj: None)
        clock = clock or Clock()  # one offset for both connections
        common: dict[str, Any] = {
            "clock": clock,
            "max_auth_failures": max_auth_failures,
            "on_resync": on_resync,
            "server_time": server_time,
            **ws_opts,
        }
        self.private = PrivateConnection(url, creds, emit, on_error, name="okx-private", **common)
        self.private.subscribe(_arg(ch, inst_type) for ch in channels)
        self.business: PrivateConnection | None = None
        if business_url:
            self.business = PrivateConnection(
                business_url, creds, emit, on_error, name="okx-business", **common
            )
            self.business.subscribe([_arg("orders-algo", inst_type)])

    def __repr__(self) -> str:
        return f"OkxPrivateWsGateway({self.private.url!r}, state={self.state})"

    @property
    def connections(self) -> list[PrivateConnection]:
        return [c for c in (self.private, self.business) if c is not None]

    def start(self) -> None:
        for c in self.connections:
            c.start()

    def stop(self, timeout: float = 5.0) -> None:
        for c in self.connections:
            c.stop(timeout)

    @property
    def state(self) -> str:
        """The worst state of the connections."""
        order = ("auth_failed", "connecting", "logging_in", "stopped", "ready")
        return min((c.state for c in self.connections), key=order.index)

    @property
    def ready(self) -> bool:
        return all(c.state == "ready" for c in self.connections)


def _arg(channel: str, inst_type: str) -> dict[str, str]:
    return {"channel": "account"} if channel == "account" else {"channel": channel, "instType": inst_type}
