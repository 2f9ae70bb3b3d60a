"""Fixtures for the gateway tests: a real simulator over loopback HTTP/WS (module scoped)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests

from athena.sim.server import SimServer

SIM_CREDS = ("sim-api-key", "sim-secret-key", "sim-passphrase")


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


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    server = SimServer(port=0, tick_interval_ms=20, idle_timeout_s=30.0).start()
    s = Sim(server)
    yield s
    s.http.close()
    server.stop()


@pytest.fixture()
def clean_sim(sim: Sim) -> Iterator[Sim]:
    sim.admin("faults/clear", {})
    yield sim
    sim.admin("faults/clear", {})
    sim.admin("skew", {"seconds": 0})
