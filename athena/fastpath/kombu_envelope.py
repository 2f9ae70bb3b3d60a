"""Publishing a task on the order path without kombu's per-send machinery.

`app.send_task` spends ~0.55 ms of Python per send on this machine (producer pool acquire, the
queue declared and copied again on every publish, kombu's retry wrappers) around one ~0.06 ms
LPUSH, and ~1.3 ms after an idle second, inside the path from the strategy's decision to the order
on the wire. This publisher builds the message with Celery's own `app.amqp.as_task_v2` (protocol 2
headers of the installed Celery) and writes it the way kombu's Redis transport does: the JSON
envelope LPUSHed onto the queue's list (at priority 0 the list is named after the queue). The worker
cannot tell the two apart; tests/integration/test_task_publisher.py runs it against a real worker
and compares the envelope with kombu's.

Used only where it is known to be exact: a redis:// broker, no global key prefix, no priorities,
no countdown, and the switch on (`ATHENA_FASTPATH_KOMBU_ENVELOPE=off` or `ATHENA_FASTPATHS=off`: every
send goes through `send_task`, and OrderStore.create writes the order and queues its task apart). Any error
falls back to `send_task` (kombu's retrying path): if the LPUSH did land before the error the task arrives
twice, which every task here tolerates (the order's clOrdId makes the second placement find the first).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from typing import Any

from celery import Celery

from athena.fastpath import enabled

log = logging.getLogger(__name__)

_SCHEMES = ("redis://", "rediss://", "unix://")


def _where(client: Any) -> tuple[Any, ...] | None:
    """The server and database a redis-py client talks to."""
    try:
        kw = client.connection_pool.connection_kwargs
    except AttributeError:
        return None
    return kw.get("host"), kw.get("port"), kw.get("path"), kw.get("db", 0)


class TaskPublisher:
    def __init__(self, app: Celery) -> None:
        self.app = app
        self.enabled = enabled("kombu_envelope")
        self._lock = threading.Lock()
        self._url: str | None = None
        self._client: Any = None
        self.fast = 0  # sends that went through the LPUSH path
        self.fallbacks = 0  # sends that went through send_task after an error

    def _redis(self) -> Any:
        """The client for the app's current broker, or None when this path is off or would not be exact."""
        if not self.enabled:
            return None
        conf = self.app.conf
        url = conf.broker_url
        if url == self._url:
            return self._client
        with self._lock:
            client = None
            opts = conf.broker_transport_options or {}
            if (
                isinstance(url, str)
                and url.startswith(_SCHEMES)
                and not opts.get("global_keyprefix")
                and not opts.get("priority_steps")
                and not conf.task_always_eager
            ):
                import redis

                client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)
            old, self._client, self._url = self._client, client, url
            if old is not None:
                old.close()
            return client

    def _exec_options(self, name: str) -> dict[str, Any] | None:
        """The time limits send_task would copy from the task when it is registered in this process
        (the stream worker sends by name and has none); None when the task asks for something this
        path does not write (priority, expiry, another serializer...)."""
        task = self.app._tasks.get(name)
        opts = {
            k: v for k, v in (task._get_exec_options() if task is not None else {}).items() if v is not None
        }
        limits = {k: opts.pop(k) for k in ("time_limit", "soft_time_limit") if k in opts}
        opts.pop("queue", None)  # the caller names the queue, as it does with send_task
        if opts.get("serializer") == "json":  # what this path writes
            del opts["serializer"]
        return None if opts else limits

    def _exact(self, name: str) -> tuple[Any, dict[str, Any] | None]:
        """(broker client, time limits) when this path writes exactly what send_task would for
        task `name`; a None in either place means send_task it is."""
        client = self._redis()
        return client, self._exec_options(name) if client is not None else None

    def send(self, name: str, args: list[Any], queue: str, argsrepr: str) -> None:
        """Publish task `name` (ignore_result) onto `queue`."""
        client, limits = self._exact(name)
        if client is not None and limits is not None:
            try:
                client.lpush(queue, self._envelope(name, args, queue, argsrepr, limits))
                self.fast += 1
                return
            except Exception as exc:
                self.fallbacks += 1
                log.warning("direct publish of %s failed (%s): sending through kombu", name, exc)
        self.app.send_task(name, args=args, queue=queue, ignore_result=True, argsrepr=argsrepr)

    def message(
        self, name: str, args: list[Any], queue: str, argsrepr: str, redis: Any
    ) -> tuple[str, str] | None:
        """(list key, message) for the caller to LPUSH itself, in its own Lua step on `redis`
        (OrderStore.create: the order and its task in one write); None unless `redis` is the
        broker's server and database and this path is exact for the task."""
        client, limits = self._exact(name)
        if client is None or limits is None or _where(client) != _where(redis):
            return None
        self.fast += 1
        return queue, self._envelope(name, args, queue, argsrepr, limits)

    def _envelope(self, name: str, args: list[Any], queue: str, argsrepr: str, limits: dict[str, Any]) -> str:
        task_id = str(uuid.uuid4())
        msg = self.app.amqp.as_task_v2(
            task_id,
            name,
            args=args,
            kwargs={},
            reply_to=self.app.thread_oid,
            ignore_result=True,
            argsrepr=argsrepr,
            kwargsrepr="{}",
            **limits,
        )
        body = json.dumps(msg.body).encode()
        return json.dumps(
            {
                "body": base64.b64encode(body).decode(),
                "content-encoding": "utf-8",
                "content-type": "application/json",
                "headers": msg.headers,
                "properties": {
                    **msg.properties,
                    "delivery_mode": 2,
                    "delivery_info": {"exchange": "", "routing_key": queue},
                    "priority": 0,
                    "body_encoding": "base64",
                    "delivery_tag": str(uuid.uuid4()),
                },
            }
        )

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client, self._url = None, None
