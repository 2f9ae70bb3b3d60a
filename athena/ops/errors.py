"""Outcomes that tell a Celery task to try again later (same arguments, same clOrdId)."""

from __future__ import annotations


class RetryLater(Exception):
    """Nothing went wrong that retrying will not fix; come back after `countdown` seconds."""

    def __init__(self, reason: str, countdown: float = 1.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.countdown = countdown


class BreakerOpen(RetryLater):
    """A circuit breaker is open; the job is paused until it closes."""
