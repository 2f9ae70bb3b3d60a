"""Helpers the gateway tests share (not a test module): the simulator's admin API, its credentials, WS timings."""

from __future__ import annotations

from typing import Any

import orjson
import requests

SIM_CREDS = ("sim-api-key", "sim-secret-key", "sim-passphrase")
FAST_WS = {"ping_interval_s": 0.2, "stall_timeout_s": 0.8, "backoff_initial_s": 0.05, "backoff_max_s": 0.4}


class Sim:
    """The running SimServer plus its admin API (/sim/...)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.url = server.url
        self.http = requests.Session()

    def ws_url(self, kind: str = "public") -> str:
        return str(self.server.ws_url(kind))

    def admin(self, path: str, body: Any = None) -> Any:
        r = self.http.request("POST" if body is not None else "GET", f"{self.url}/sim/{path}",
                              data=orjson.dumps(body) if body is not None else None, timeout=10)
        out = r.json()
        assert out["code"] == "0", out
        return out["data"][0]

    def faults(self, **spec: Any) -> Any:
        return self.admin("faults", spec)
