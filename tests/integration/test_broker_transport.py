"""athena.fastpath.kombu_transport: kombu's Redis transport reusing one client per channel."""

from __future__ import annotations

from kombu import Connection

from athena.fastpath.kombu_transport import Transport


def test_one_client_per_channel_and_messages_still_flow(redis_url: str) -> None:
    with Connection(redis_url, transport="athena.fastpath.kombu_transport:Transport") as conn:
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


def test_closing_after_the_broker_connection_was_collected_is_a_connection_error(redis_url: str) -> None:
    """Celery's consumer, on losing the broker, collects the connection (its details are dropped)
    and then closes it; kombu restores the unacked messages while closing the channel. That must be
    a connection error Celery ignores (it reconnects), not an AttributeError that kills the worker,
    and the messages must stay in Redis for the restore after the visibility timeout."""
    import redis
    from kombu.common import ignore_errors

    r = redis.Redis.from_url(redis_url)
    r.delete("tb-restore", "unacked", "unacked_index")
    conn = Connection(redis_url, transport="athena.fastpath.kombu_transport:Transport")
    channel = conn.default_channel
    queue = conn.SimpleQueue("tb-restore", channel=channel)
    for i in range(2):
        queue.put({"n": i})
    got = [queue.get(timeout=5) for _ in range(2)]  # delivered, not acked
    assert len(got) == 2 and r.hlen("unacked") == 2
    channel._disconnect_pools()
    conn.transport.client = None  # what Connection.collect() leaves behind
    try:
        with channel.conn_or_acquire():
            raise AssertionError("no client without the connection's details")
    except redis.ConnectionError:
        pass
    ignore_errors(conn, channel.close)  # Celery's close after the collect: must not raise
    assert r.hlen("unacked") == 2  # still there for restore_visible
    r.delete("tb-restore", "unacked", "unacked_index")
