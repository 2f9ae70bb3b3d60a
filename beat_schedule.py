"""Celery beat: the periodic jobs. Intervals come from Settings.schedule; each entry has an
`expires` (its own interval) so a backlog after downtime does not replay stale jobs in a burst."""

from __future__ import annotations

from typing import Any

from athena.config import Settings

# task name -> (Settings.schedule attribute, queue)
PERIODIC: dict[str, tuple[str, str]] = {
    "athena.heartbeat": ("heartbeat", "orders"),  # dead-man's switch refresh: same writer as placement
    "athena.sync_positions": ("sync_positions", "default"),
    "athena.protect_positions": ("protect_positions", "orders"),
    "athena.reconcile": ("reconcile", "default"),
    "athena.cancel_ghost_orders": ("cancel_ghost_orders", "orders"),
    "athena.snapshot_equity": ("snapshot_equity", "default"),
    "athena.check_drawdown": ("check_drawdown", "default"),
    "athena.watch_venue": ("watch_venue", "default"),  # maintenance hold; pre-flight re-run while refused
    "athena.book_funding": ("book_funding", "default"),  # funding bills -> realised PnL, each once
}


def build_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    schedule: dict[str, dict[str, Any]] = {}
    for task, (attr, queue) in PERIODIC.items():
        every = float(getattr(settings.schedule, attr))
        schedule[task.removeprefix("athena.")] = {
            "task": task,
            "schedule": every,
            "options": {"expires": every, "queue": queue},
        }
    return schedule
