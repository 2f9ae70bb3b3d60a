"""workers.broker_transport: kombu's Redis transport reusing one client per channel."""

from __future__ import annotations

from kombu import Connection

from workers.broker_transport import Transport


def test_one_client_per_channel_and_messages_still_flow(redis_url: str) -> None:
    with Connection(redis_url, transport="workers.broker_transport:Transport") as conn:
        assert isinstance(conn.transport, Transport)
        channel = conn.default_channel
        with channel.conn_or_acquire() as a, channel.conn_or_acquire() as b:
            assert a is b  # kombu's own transport builds a new redis.Redis here every time
        queue = conn.SimpleQueue("test-broker-transport")
        try:
            for i in range(3):
                queue.put({"n": i})
            got = [queue.get(timeout=5) for _ in range(3)]
            for m in got:
                m.ack()
            assert [m.payload["n"] for m in got] == [0, 1, 2]
        finally:
            queue.close()


def test_the_celery_app_uses_it_and_still_says_redis(celery_app) -> None:  # type: ignore[no-untyped-def]
    with celery_app.connection_for_write() as conn:
        assert isinstance(conn.transport, Transport)
        assert conn.as_uri().startswith("redis://")  # Flower picks its broker client by this scheme
