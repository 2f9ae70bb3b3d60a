"""In-process publish/subscribe. A handler that raises is logged and does not stop the others."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)


class EventType(StrEnum):
    TICK = "tick"
    ORDER_UPDATE = "order_update"
    ORDER_FILLED = "order_filled"
    ORDER_CANCELLED = "order_cancelled"
    POSITION_UPDATE = "position_update"
    ERROR = "error"


Handler = Callable[[Any], None]


class EventBus:
    """Synchronous bus: publish() calls each handler in subscription order on the caller's thread.

    The stream worker publishes only from its single dispatcher thread, so handlers need no locks.
    """

    __slots__ = ("_handlers", "errors")

    def __init__(self) -> None:
        self._handlers: dict[EventType, list[Handler]] = defaultdict(list)
        self.errors = 0  # handler exceptions swallowed so far

    def subscribe(self, event: EventType, handler: Handler) -> None:
        self._handlers[event].append(handler)

    def unsubscribe(self, event: EventType, handler: Handler) -> None:
        handlers = self._handlers.get(event)
        if handlers and handler in handlers:
            handlers.remove(handler)

    def publish(self, event: EventType, payload: Any = None) -> None:
        handlers = self._handlers.get(event)
        if not handlers:
            return
        for handler in handlers:
            try:
                handler(payload)
            except Exception:
                self.errors += 1
                log.exception("handler %r failed on %s", getattr(handler, "__qualname__", handler), event)
