"""Per-endpoint sliding-window rate limits like OKX's (50011 + HTTP 429)."""

from __future__ import annotations

import time
from collections import deque


class RateLimiter:
    def __init__(self, scale: float = 1.0, enabled: bool = True) -> None:
        self.scale = scale  # multiply every limit (benchmarks relax them)
        self.enabled = enabled
        self._hits: dict[tuple[str, str], deque[float]] = {}

    def allow(self, endpoint: str, key: str, limit: int, window_s: float, n: int = 1) -> bool:
        if not self.enabled or limit <= 0:
            return True
        cap = max(1, int(limit * self.scale))
        q = self._hits.setdefault((endpoint, key), deque())
        now = time.monotonic()
        while q and now - q[0] >= window_s:
            q.popleft()
        if len(q) + n > cap:
            return False
        q.extend([now] * n)
        return True
