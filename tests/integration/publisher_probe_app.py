"""A Celery app with one probe task, run as a real worker process by test_task_publisher.py:
`python -m celery -A tests.integration.publisher_probe_app worker -Q tp-probe` (TP_REDIS_URL set)."""

from __future__ import annotations

import json
import os
from typing import Any

import redis
from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

from athena.fastpath import enabled
from athena.fastpath.kombu_transport import install

URL = os.environ.get("TP_REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("publisher-probe", broker=URL)
if enabled("kombu_transport"):  # as workers/app.py does
    install()
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, accept_content=["json"])
_r = redis.Redis.from_url(URL)


@app.task(name="tests.publisher_probe")
def publisher_probe(order: dict[str, Any], n: int) -> None:
    _r.rpush("tp-ran", json.dumps([order, n]))
    _r.set(
        "tp-transport", TRANSPORT_ALIASES["redis"]
    )  # which Redis transport this worker received it through
