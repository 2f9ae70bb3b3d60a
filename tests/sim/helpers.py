"""Helpers the simulator's tests share (not a test module): its keys, a bounded WebSocket client,
order bodies, a held clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import websocket

from athena.sim.exchange import Exchange

KEY, SECRET, PASS = "sim-api-key", "sim-secret-key", "sim-passphrase"
BTC = "BTC-USDT-SWAP"


def ws_login_frame(
    ts: str | int | None = None, secret: str = SECRET, key: str = KEY, passphrase: str = PASS
) -> str:
    ts = ts if ts is not None else str(int(time.time()))
    mac = hmac.new(secret.encode(), (str(ts) + "GET/users/self/verify").encode(), hashlib.sha256)
    sig = base64.b64encode(mac.digest()).decode()
    return json.dumps(
        {"op": "login", "args": [{"apiKey": key, "passphrase": passphrase, "timestamp": ts, "sign": sig}]}
    )


class Ws:
    """websocket-client connection with bounded waits."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.ws = websocket.create_connection(url, timeout=timeout)
        self.seen: list[dict[str, Any]] = []

    def send(self, obj: Any) -> None:
        self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    def recv(self) -> Any:
        raw = self.ws.recv()
        return raw if raw == "pong" else json.loads(raw)

    def wait(self, pred: Callable[[Any], bool], timeout: float = 5.0) -> Any:
        kept = self._kept(pred)
        if kept is not None:
            return kept
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.ws.settimeout(max(0.01, end - time.monotonic()))
            try:
                m = self.recv()
            except websocket.WebSocketTimeoutException:
                break
            if isinstance(m, dict):
                self.seen.append(m)
            if pred(m):
                return m
            self._skipped(m)
        raise AssertionError(f"no matching WS message within {timeout}s; last seen: {self.seen[-3:]}")

    def _kept(self, pred: Callable[[Any], bool]) -> Any:
        """A frame an earlier wait skipped that matches (none here: skipped frames are dropped)."""
        return None

    def _skipped(self, m: Any) -> None:
        """A frame this wait read and did not want."""

    def login(self, **kw: Any) -> dict[str, Any]:
        self.send(ws_login_frame(**kw))
        return self.wait(lambda m: isinstance(m, dict) and m.get("event") in ("login", "error"))  # type: ignore[no-any-return]

    def close(self) -> None:
        self.ws.close()


def channel(name: str) -> Callable[[Any], bool]:
    return lambda m: isinstance(m, dict) and m.get("arg", {}).get("channel") == name and "data" in m


def order(
    side: str = "buy", ord_type: str = "market", sz: str = "0.01", px: str = "", **kw: Any
) -> dict[str, Any]:
    body = {"instId": BTC, "tdMode": "cross", "side": side, "ordType": ord_type, "sz": sz}
    if px:
        body["px"] = px
    body.update(kw)
    return body


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000_000

    def __call__(self) -> int:
        return self.t


def o(
    side: str = "buy", ord_type: str = "market", sz: str = "0.01", px: str = "", **kw: Any
) -> dict[str, Any]:
    b = {"instId": BTC, "tdMode": "cross", "side": side, "ordType": ord_type, "sz": sz, "px": px}
    b.update(kw)
    return b


def pos(ex: Exchange, inst: str = BTC, side: str = "net") -> D:
    p = ex.positions.get((inst, side))
    return p.pos if p else D(0)
