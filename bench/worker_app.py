"""The real orders worker app (workers.app with workers.tasks) plus one probe task for the baselines.

`celery -A bench.worker_app worker -Q orders,default` is the production orders worker with an extra
`bench.stamp` task that returns the monotonic clock at task start (Celery send -> task start).
"""

from __future__ import annotations

import time

import workers.tasks  # noqa: F401  (registers the real tasks)
from workers.app import app


@app.task(name="bench.stamp")
def stamp() -> int:
    return time.monotonic_ns()  # CLOCK_MONOTONIC is system-wide: comparable across processes


__all__ = ["app"]
