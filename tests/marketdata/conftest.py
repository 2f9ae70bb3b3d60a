"""Fixtures for the market data tests: simulators serving OKX's history endpoints and its public
WebSocket over real HTTP/WS on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from athena.sim.server import SimServer
from tests.marketdata.helpers import BACKFILL_S, T0, Rejections, Running


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


@pytest.fixture()
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for r in started:
        r.stop()
