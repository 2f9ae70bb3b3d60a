from __future__ import annotations

import time
from collections.abc import Callable

FAST_WS = {"ping_interval_s": 0.2, "stall_timeout_s": 0.8, "backoff_initial_s": 0.05, "backoff_max_s": 0.4}


def wait_until(cond: Callable[[], object], timeout: float = 30.0, step: float = 0.01) -> bool:
    """Poll cond until true or timeout; returns the final truth value (bounded wait)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())
