"""A peer sending endless distinct error codes cannot flood the log: log-once keys are bounded."""

from __future__ import annotations

import logging

import pytest

from athena.okx.ws import MAX_LOGGED_KINDS, WsConnection


def test_log_once_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    conn = WsConnection.__new__(WsConnection)  # only the diagnostics state is needed
    conn._logged = set()
    conn.name = "okx-test"
    with caplog.at_level(logging.WARNING, logger="athena.okx.ws"):
        for code in range(10 * MAX_LOGGED_KINDS):
            conn._log_once(f"error:{code}", f"error event {code}")
    assert len(conn._logged) <= MAX_LOGGED_KINDS + 1
    assert len(caplog.records) == MAX_LOGGED_KINDS + 1  # each kind once, then one overflow line
    assert "too many distinct" in caplog.records[-1].getMessage()
