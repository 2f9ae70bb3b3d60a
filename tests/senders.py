"""Order senders for tests (not a test module): NoSender, for code paths that must not send anything."""

from __future__ import annotations

from typing import Any


class NoSender:
    """Every use fails the test: the engine built with it must do its work without sending a task."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected send: {name}")
