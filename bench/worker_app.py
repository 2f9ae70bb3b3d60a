"""The real orders worker app (workers.app with workers.tasks) plus one probe task for the baselines, and a task_prerun stamp (bench:start in Redis) for breakdowns.

`celery -A bench.worker_app worker -Q orders,default` is the production orders worker with an extra
`bench.stamp` task that returns the monotonic clock at task start (Celery send -> task start).
"""

from __future__ import annotations

import time
from typing import Any

from celery.signals import task_prerun

import workers.tasks  # noqa: F401  (registers the real tasks)
from workers.app import app

_redis: Any = None


@task_prerun.connect
def _stamp_start(task: Any = None, args: Any = None, **_: Any) -> None:
    """Task start of each place_order / submit_stop_loss, for the benches' latency breakdown
    (stamped first, written after: one Redis HSETNX, off the measured span)."""
    global _redis
    t = time.monotonic_ns()
    if task is None or task.name not in ("athena.place_order", "athena.submit_stop_loss") or not args:
        return
    body = args[0] if isinstance(args[0], dict) else {}
    cid = body.get("clOrdId") or body.get("algoClOrdId")
    if not cid:
        return
    if _redis is None:
        import redis

        _redis = redis.Redis.from_url(app.conf.broker_url)
    _redis.hsetnx("bench:start", cid, t)


@app.task(name="bench.stamp")
def stamp() -> int:
    return time.monotonic_ns()  # CLOCK_MONOTONIC is system-wide: comparable across processes


__all__ = ["app"]
