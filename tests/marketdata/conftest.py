"""Fixtures for the market data tests: simulators serving OKX's history endpoints and its public
WebSocket over real HTTP/WS on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from athena.marketdata.record import Recorder, RotatingWriter
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


class Running:
    """A Recorder and its writer, pumped the way `athena record`'s main loop pumps them."""

    def __init__(self, url: str, out: Path, insts: list[str], channels: list[str], rotate_s: float = 3600) -> None:
        self.writer = RotatingWriter(out, rotate_s=rotate_s)
        self.rec = Recorder(url, insts, channels, self.writer, backoff_initial_s=0.05, backoff_max_s=0.2)
        self.rec.start()

    def until(self, pred: Callable[[], bool], timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.writer.tick(flush=True)
            if pred():
                return
            time.sleep(0.05)
        raise AssertionError(f"condition not met within {timeout}s")

    def stop(self) -> None:
        self.rec.stop()
        self.writer.close()


@pytest.fixture()
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for r in started:
        r.stop()
