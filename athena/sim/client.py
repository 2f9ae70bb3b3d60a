"""A minimal signed OKX REST client (requests) for tests, bench and the admin API. Not the trading gateway."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from typing import Any

import orjson
import requests


def iso_now(offset_s: float = 0.0) -> str:
    t = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_s)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def sign(secret: str, ts: str, method: str, target: str, body: str = "") -> str:
    mac = hmac.new(secret.encode(), (ts + method + target + body).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


class SimClient:
    def __init__(
        self,
        url: str,
        key: str = "sim-api-key",
        secret: str = "sim-secret-key",
        passphrase: str = "sim-passphrase",
        timeout: float = 10.0,
        verify: bool | str = True,
    ) -> None:
        self.url = url.rstrip("/")
        self.key, self._secret, self.passphrase = key, secret, passphrase
        self.timeout = timeout
        self.session = requests.Session()
        self.session.verify = verify

    def __repr__(self) -> str:
        return f"SimClient({self.url})"

    def headers(self, method: str, target: str, body: str, ts: str | None = None) -> dict[str, str]:
        ts = ts or iso_now()
        return {
            "OK-ACCESS-KEY": self.key,
            "OK-ACCESS-SIGN": sign(self._secret, ts, method, target, body),
            "OK-ACCESS-TIMESTAMP": ts,
            "OK-ACCESS-PASSPHRASE": self.passphrase,
            "Content-Type": "application/json",
            "x-simulated-trading": "0",
        }

    def request(
        self,
        method: str,
        target: str,
        body: Any = None,
        signed: bool = True,
        timeout: float | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> requests.Response:
        raw = "" if body is None else orjson.dumps(body).decode()
        headers = self.headers(method, target, raw) if signed else {"Content-Type": "application/json"}
        if extra_headers:
            headers.update(extra_headers)
        return self.session.request(
            method,
            self.url + target,
            data=raw.encode() if raw else None,
            headers=headers,
            timeout=timeout or self.timeout,
        )

    def get(self, target: str, signed: bool = True) -> dict[str, Any]:
        return self.request("GET", target, signed=signed).json()  # type: ignore[no-any-return]

    def post(self, target: str, body: Any, timeout: float | None = None) -> dict[str, Any]:
        return self.request("POST", target, body, timeout=timeout).json()  # type: ignore[no-any-return]

    def admin(self, path: str, body: Any = None) -> Any:
        r = self.session.request(
            "POST" if body is not None else "GET",
            f"{self.url}/sim/{path}",
            data=orjson.dumps(body) if body is not None else None,
            timeout=self.timeout,
        )
        out = r.json()
        if out.get("code") != "0":
            raise RuntimeError(f"sim admin {path}: {out}")
        return out["data"][0]
