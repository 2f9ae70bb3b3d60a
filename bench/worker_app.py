"""The real orders worker app (workers.app with workers.tasks) plus one probe task for the baselines, and a
task_prerun stamp (bench:start in Redis) for breakdowns.

`celery -A bench.worker_app worker -Q orders.<account>,default.<account>` is the production orders worker with
an extra `bench.stamp` task that returns the monotonic clock at task start (Celery send -> task start).
"""

from __future__ import annotations

import time
from typing import Any

from celery.signals import task_postrun, task_prerun

import workers.tasks  # noqa: F401  (registers the real tasks)
from workers.app import app

_redis: Any = None
_started: dict[str, int] = {}  # task id -> task start, kept in memory until the task has run


def _cl_ord_id(task: Any, args: Any) -> str | None:
    if task is None or task.name not in ("athena.place_order", "athena.submit_stop_loss") or not args:
        return None
    body = args[0] if isinstance(args[0], dict) else {}
    return body.get("clOrdId") or body.get("algoClOrdId")


@task_prerun.connect
def _stamp_start(task_id: str = "", task: Any = None, args: Any = None, **_: Any) -> None:
    """Task start of each place_order / submit_stop_loss, for the benches' latency breakdown. Only
    a clock read here: the Redis write waits for task_postrun, so it never sits between the task
    start and the order on the wire it is used to measure."""
    if _cl_ord_id(task, args):
        _started[task_id] = time.monotonic_ns()


@task_postrun.connect
def _write_start(task_id: str = "", task: Any = None, args: Any = None, **_: Any) -> None:
    global _redis
    t = _started.pop(task_id, None)
    cid = _cl_ord_id(task, args)
    if t is None or not cid:
        return
    if _redis is None:
        import redis

        _redis = redis.Redis.from_url(app.conf.broker_url)
    _redis.hsetnx("bench:start", cid, t)


@app.task(name="bench.stamp")
def stamp() -> int:
    return time.monotonic_ns()  # CLOCK_MONOTONIC is system-wide: comparable across processes


__all__ = ["app"]
