"""kombu's Redis transport, with one Redis client per channel instead of one per operation.

kombu 5.x builds a new `redis.Redis` object (a ~170-entry response-callback table) for every
publish, every ack and every visibility-index write, each dearer than the Redis call itself, inside the path
from the strategy's decision to the order on the wire (one publish in the stream worker, one index
write before the orders worker runs the task). The client shares the channel's connection pool
either way and is thread-safe, so reusing it changes nothing else.

install() (called by workers/app.py unless `ATHENA_FASTPATH_KOMBU_TRANSPORT=off` or `ATHENA_FASTPATHS=off`,
which leave kombu's own Redis transport in place) points kombu's `redis`/`rediss` transport aliases at it: the
URL, its scheme and what Flower and the logs show stay redis:// (naming the class in
`broker_transport` would make kombu print the class path as the URL scheme, and Flower's broker page,
which picks its client by that scheme, answer 404).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

PATH = "athena.fastpath.kombu_transport:Transport"


class Channel(kombu_redis.Channel):
    _sync_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        cached = self._sync_client
        try:
            pool = self.pool
        except AttributeError as exc:
            # The connection's details are gone: Celery collected the connection after losing the
            # broker and kombu is now restoring unacked messages while closing this channel. As an
            # AttributeError it would kill the worker; as a connection error Celery ignores it and
            # reconnects, and the messages stay in Redis's unacked hash, to be restored after the
            # visibility timeout (every task is idempotent).
            raise redis.exceptions.ConnectionError("broker connection already collected") from exc
        if cached is None or cached.connection_pool is not pool:  # first use, or a new pool after reconnect
            cached = self._sync_client = self._create_client()  # type: ignore[no-untyped-call]  # kombu: untyped
        yield cached


class Transport(kombu_redis.Transport):
    Channel = Channel


def install() -> None:
    """redis:// and rediss:// connections in this process use this transport."""
    TRANSPORT_ALIASES["redis"] = PATH
    TRANSPORT_ALIASES["rediss"] = PATH
