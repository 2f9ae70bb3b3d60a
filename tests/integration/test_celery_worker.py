"""A task executed by a real Celery worker over the private Redis."""

from __future__ import annotations


def test_ping_task_runs_on_real_worker(celery_app, celery_worker) -> None:  # type: ignore[no-untyped-def]
    from workers.tasks import ping

    result = ping.delay()
    assert result.get(timeout=10) == "pong"
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.worker_prefetch_multiplier == 1
