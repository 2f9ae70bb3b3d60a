"""Fixtures for the simulator's tests (the SimServer itself is tests/conftest.py's `sim`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from athena.sim.client import SimClient
from athena.sim.server import SimServer
from tests.sim.helpers import Ws


@pytest.fixture()
def client(sim: SimServer) -> SimClient:
    return SimClient(sim.url)


@pytest.fixture()
def ws_factory() -> Iterator[Callable[[str], Ws]]:
    opened: list[Ws] = []

    def make(url: str) -> Ws:
        w = Ws(url)
        opened.append(w)
        return w

    yield make
    for w in opened:
        try:
            w.close()
        except Exception:
            pass
