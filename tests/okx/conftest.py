"""Fixtures for the gateway tests: a real simulator over loopback HTTP/WS (module scoped), a REST gateway to
it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from athena.okx.rest import OkxRestGateway
from athena.sim.server import SimServer
from tests.okx.helpers import SIM_CREDS, Sim


@pytest.fixture(scope="module")
def okx_sim() -> Iterator[Sim]:
    """One ticking simulator per module (the gateway tests only read what it does;
    clean_sim resets faults)."""
    server = SimServer(port=0, tick_interval_ms=20, idle_timeout_s=30.0).start()
    s = Sim(server)
    yield s
    s.http.close()
    server.stop()


@pytest.fixture()
def clean_sim(okx_sim: Sim) -> Iterator[Sim]:
    okx_sim.admin("faults/clear", {})
    yield okx_sim
    okx_sim.admin("faults/clear", {})
    okx_sim.admin("skew", {"seconds": 0})


@pytest.fixture()
def rest(clean_sim: Sim) -> Iterator[OkxRestGateway]:
    """The REST gateway against the simulator, with short timeouts and backoff."""
    gw = OkxRestGateway(
        base_url=clean_sim.url, credentials=SIM_CREDS, timeout_s=3.0, rate_limit_backoff_s=0.1
    )
    yield gw
    gw.close()
