"""Helpers the conformance tests share (not a test module): a raw WebSocket client that keeps the
frames a wait skipped."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import websocket

from tests.sim.helpers import Ws as _Ws


class Ws(_Ws):
    """Keeps frames that an earlier wait skipped, so a later wait can still find them (in order)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.backlog: list[Any] = []

    def wait(self, pred: Callable[[Any], bool], timeout: float = 5.0) -> Any:
        for i, m in enumerate(self.backlog):
            if pred(m):
                del self.backlog[i]
                return m
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.ws.settimeout(max(0.01, end - time.monotonic()))
            try:
                m = self.recv()
            except websocket.WebSocketTimeoutException:
                break
            self.seen.append(m)
            if pred(m):
                return m
            self.backlog.append(m)
        raise AssertionError(f"no matching WS message within {timeout}s; last seen: {self.seen[-3:]}")
