"""Waiting in tests without racing the wall clock: poll until a condition holds, with a generous deadline.

The one waiting module of the suite (tests/unit/test_suite_layout.py keeps it that way). wait_for hands back
what the condition returned (the order found, the lock token) and fails with what it was waiting for;
wait_until answers True/False (athena.procs.wait_until, with the tests' defaults) for a test that asserts
on the answer itself (`assert not wait_until(...)`). Neither ever asserts that time passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from athena import procs

T = TypeVar("T")

TASK_TIMEOUT = 30  # seconds a test waits for the session's Celery worker to finish one task


def wait_for(
    cond: Callable[[], T | None], timeout: float = 30.0, what: str = "condition", interval: float = 0.02
) -> T:
    """The first truthy value cond() returns; AssertionError when none came within timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def wait_until(cond: Callable[[], object], timeout: float = 30.0, interval: float = 0.01) -> bool:
    """True as soon as cond() is truthy, else its last answer after timeout seconds (bounded wait)."""
    return procs.wait_until(cond, timeout, interval=interval)
