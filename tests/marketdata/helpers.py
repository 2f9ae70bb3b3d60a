"""Helpers the market data tests share (not a test module): the history sim's fixed clock, a counter of its
rate-limit refusals, a pumped Recorder, a plain GET."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from athena.marketdata.record import Recorder, RotatingWriter
from athena.sim.server import SimServer
from tests.waiting import wait_for

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


def get(srv: SimServer, path: str, **params: Any) -> Any:
    import requests

    r = requests.get(f"{srv.url}/api/v5/{path}", params=params, timeout=10)
    return r.status_code, r.json()


class Running:
    """A Recorder and its writer, pumped the way `athena record`'s main loop pumps them."""

    def __init__(
        self, url: str, out: Path, insts: list[str], channels: list[str], rotate_s: float = 3600
    ) -> None:
        self.writer = RotatingWriter(out, rotate_s=rotate_s)
        self.rec = Recorder(url, insts, channels, self.writer, backoff_initial_s=0.05, backoff_max_s=0.2)
        self.rec.start()

    def until(self, pred: Callable[[], bool], timeout: float = 30.0) -> None:
        def pumped() -> bool:
            self.writer.tick(flush=True)
            return pred()

        wait_for(pumped, timeout, "the recorder's files", interval=0.05)

    def stop(self) -> None:
        self.rec.stop()
        self.writer.close()
