"""`athena.process.control.withdraw`: the CLI takes back a control task no worker has taken, and only that."""

from __future__ import annotations

import json
from typing import Any

from celery import Celery

from athena.process.control import send_control, withdraw

QUEUE = "withdraw-probe"  # no worker consumes it


def test_withdraw_takes_back_only_the_given_task(celery_app: Celery, redis_client: Any) -> None:
    mine = send_control(celery_app, "athena.flatten", {"inst_id": None, "reason": "probe"}, QUEUE, timeout=30)
    other = send_control(celery_app, "athena.reconcile", {}, QUEUE, timeout=30)
    queued = [json.loads(m)["headers"] for m in redis_client.lrange(QUEUE, 0, -1)]
    assert {h["id"] for h in queued} == {mine.id, other.id}
    assert all(h["expires"] for h in queued)  # every control task carries its timeout as expiry

    assert withdraw(celery_app, mine.id, QUEUE) is True
    assert [json.loads(m)["headers"]["id"] for m in redis_client.lrange(QUEUE, 0, -1)] == [other.id]
    assert withdraw(celery_app, mine.id, QUEUE) is False  # gone: as if a worker had taken it
    assert withdraw(celery_app, other.id, QUEUE) is True
    assert redis_client.llen(QUEUE) == 0


def test_withdraw_cannot_tell_on_another_broker() -> None:
    app = Celery("withdraw-amqp", broker="amqp://guest@127.0.0.1:1//")
    assert withdraw(app, "any-id", QUEUE) is None
    unreachable = Celery("withdraw-down", broker="redis://127.0.0.1:1/0")
    assert withdraw(unreachable, "any-id", QUEUE) is None
