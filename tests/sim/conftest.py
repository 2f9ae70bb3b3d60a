"""Fixtures for the simulator's tests (the SimServer and its client are tests/conftest.py's `sim`,
`sim_client`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.sim.helpers import Ws


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
