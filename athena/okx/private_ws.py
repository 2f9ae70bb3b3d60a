"""OkxPrivateWsGateway: login, then orders / positions / account (private URL) and orders-algo
(business URL, optional) -> OrderUpdate / Position / Balance / AlgoOrder events.

A login failure surfaces as OkxAuthError through on_error and `state`; the connection backs off and
halts after `max_auth_failures` consecutive failures instead of retrying forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from athena.okx import parse
from athena.okx.errors import OkxAuthError, OkxError, ParseError
from athena.okx.signing import Clock, Credentials, ws_login_args
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
        **ws_opts: Any,
    ) -> None:
        super().__init__(url, name, **ws_opts)
        self._creds = creds
        self.on_event = on_event
        self.on_error = on_error or (lambda _e: None)
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
                self.state = "ready"
                self.mark_healthy()
                self.set_ready()
            else:
                self._login_failed(code, str(msg.get("msg", "")))
        elif event == "error":
            self.stats.errors[code] += 1
            if self.state == "logging_in" or code in ("60009", "60004", "60005", "60006", "60007", "60024", "60011"):
                self._login_failed(code, str(msg.get("msg", "")))
            else:
                self._log_once("error:" + code, f"{self.name}: OKX error event {str(msg)[:200]}")
                self._error(OkxError(str(msg.get("msg", "OKX WS error"))[:200], code, path=self.name))
        elif event == "subscribe":
            self.stats.sub_acks += 1
        elif event == "notice":
            self._log_once("notice", f"{self.name}: notice {str(msg)[:200]}; reconnecting")
            self.force_reconnect()
        elif event not in ("unsubscribe", "channel-conn-count", "channel-conn-count-error"):
            self.malformed("unexpected", raw)

    def _login_failed(self, code: str, text: str) -> None:
        self.auth_failures += 1
        err = OkxAuthError(f"WebSocket login failed: {text[:120]}", code, path=self.name)
        log.error("%s: login failed (code %s), failure %d of %d", self.name, code, self.auth_failures, self.max_auth_failures)
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
        **ws_opts: Any,
    ) -> None:
        creds = credentials or Credentials(api_key, secret, passphrase)
        emit = on_event or (lambda _obj: None)
        common: dict[str, Any] = {"clock": clock, "max_auth_failures": max_auth_failures, **ws_opts}
        self.private = PrivateConnection(url, creds, emit, on_error, name="okx-private", **common)
        self.private.subscribe(_arg(ch, inst_type) for ch in channels)
        self.business: PrivateConnection | None = None
        if business_url:
            self.business = PrivateConnection(business_url, creds, emit, on_error, name="okx-business", **common)
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
