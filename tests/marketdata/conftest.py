"""Fixtures for the market data tests: simulators serving OKX's history endpoints and its public
WebSocket over real HTTP/WS on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from athena.sim.server import SimServer

BTC, ETH = "BTC-USDT-SWAP", "ETH-USDT-SWAP"
T0 = 1_796_104_800_000  # 2026-12-01T06:00:00Z: the history sim's "now", fixed
BACKFILL_S = 1800


class Rejections:
    """Counts the sim's own rate-limit refusals (its RateLimiter, observed, not replaced)."""

    def __init__(self, srv: SimServer) -> None:
        self.by_endpoint: dict[str, int] = {}
        self.allowed: dict[str, int] = {}
        real = srv.limiter.allow

        def allow(endpoint: str, key: str, limit: int, window_s: float, n: int = 1) -> bool:
            ok = real(endpoint, key, limit, window_s, n)
            target = self.allowed if ok else self.by_endpoint
            target[endpoint] = target.get(endpoint, 0) + 1
            return ok

        srv.limiter.allow = allow  # type: ignore[method-assign]

    @property
    def total(self) -> int:
        return sum(self.by_endpoint.values())


@pytest.fixture()
def history_sim() -> Iterator[SimServer]:
    """A sim whose clock stands at T0 with 30 minutes of seeded history behind it."""
    srv = SimServer(tick_interval_ms=0, clock=lambda: T0, history_backfill_s=BACKFILL_S).start()
    yield srv
    srv.stop()


@pytest.fixture()
def rejections(history_sim: SimServer) -> Rejections:
    return Rejections(history_sim)


@pytest.fixture()
def live_sim() -> Iterator[SimServer]:
    """A sim with its market stepping (wall clock), funding pushed every second."""
    srv = SimServer(tick_interval_ms=50, funding_push_s=1.0, idle_timeout_s=30.0).start()
    yield srv
    srv.stop()


def get(srv: SimServer, path: str, **params: Any) -> Any:
    import requests

    r = requests.get(f"{srv.url}/api/v5/{path}", params=params, timeout=10)
    return r.status_code, r.json()
