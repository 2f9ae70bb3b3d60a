"""Conformance: the official OKX clients (python-okx, ccxt) and raw WebSockets against the simulator.

Each test gets a fresh SimServer on loopback (tests/conftest.py's `sim`) with the synthetic market stepping
off, so prices move only when a test moves them (through the admin API, as an operator would).
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/conformance" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.conformance)
