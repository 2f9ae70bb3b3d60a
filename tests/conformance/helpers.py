"""Helpers the conformance tests share (not a test module): a raw WebSocket client that keeps the
frames a wait skipped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.sim.helpers import Ws as _Ws


class Ws(_Ws):
    """Keeps frames that an earlier wait skipped, so a later wait can still find them (in order)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.backlog: list[Any] = []

    def _kept(self, pred: Callable[[Any], bool]) -> Any:
        for i, m in enumerate(self.backlog):
            if pred(m):
                del self.backlog[i]
                return m
        return None

    def _skipped(self, m: Any) -> None:
        self.backlog.append(m)
