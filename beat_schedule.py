"""Celery beat: the periodic jobs. Intervals come from Settings.schedule; each entry has an
`expires` (its own interval) so a backlog after downtime does not replay stale jobs in a burst."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

from athena import queues as q
from athena.config import Settings

# task name -> Settings.schedule attribute. Queues: athena.queues.ROUTES, for the account of the
# settings (one beat per account: its intervals and its queues come from that account's settings).
PERIODIC: dict[str, str] = {
    q.HEARTBEAT: "heartbeat",  # dead-man's switch refresh: same writer as placement
    q.SYNC_POSITIONS: "sync_positions",
    q.PROTECT_POSITIONS: "protect_positions",
    q.RECONCILE: "reconcile",
    q.CANCEL_GHOST_ORDERS: "cancel_ghost_orders",
    q.SNAPSHOT_EQUITY: "snapshot_equity",
    q.CHECK_DRAWDOWN: "check_drawdown",
    q.WATCH_VENUE: "watch_venue",  # maintenance hold; pre-flight re-run while refused
    q.BOOK_FUNDING: "book_funding",  # funding bills -> realised PnL, each once
    q.PRUNE_INDEXES: "prune_indexes",  # exchange-id index entries of expired records
}


def build_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    queues = q.AccountQueues(settings.account)
    schedule: dict[str, dict[str, Any]] = {}
    for task, attr in PERIODIC.items():
        every = float(getattr(settings.schedule, attr))
        schedule[task.removeprefix("athena.")] = {
            "task": task,
            "schedule": every,
            "options": {"expires": every, "queue": queues.for_task(task)},
        }
    # the previous UTC day's PnL as an alert (athena.alerts.summary), once a day; a run missed by more
    # than an hour is dropped, not sent late
    schedule["daily_summary"] = {
        "task": q.DAILY_SUMMARY,
        "schedule": crontab(minute=0, hour=settings.alerts.daily_summary_hour_utc),
        "options": {"expires": 3600.0, "queue": queues.for_task(q.DAILY_SUMMARY)},
    }
    return schedule
