"""TtlLock and Lease against a real Redis."""

from __future__ import annotations

import time

import pytest
import redis as redis_lib

from athena.state import Keys, Lease, LockBusy, TtlLock

KEYS = Keys("test", "acct1")


def test_lock_is_exclusive_and_only_the_holder_releases(redis_client: redis_lib.Redis) -> None:
    lock = TtlLock(redis_client, KEYS.lock("close:BTC"), ttl_ms=5_000)
    token = lock.acquire()
    assert token is not None
    assert lock.acquire() is None
    assert lock.release("not-the-token") is False
    assert lock.held()
    assert lock.extend("not-the-token") is False
    assert lock.extend(token) is True
    assert lock.release(token) is True
    assert not lock.held()
    assert lock.release(token) is False  # already gone


def test_lock_expires_by_itself(redis_client: redis_lib.Redis) -> None:
    lock = TtlLock(redis_client, KEYS.lock("close:ETH"), ttl_ms=80)
    old = lock.acquire()
    assert old is not None
    deadline = time.monotonic() + 2
    new = None
    while new is None and time.monotonic() < deadline:
        time.sleep(0.02)
        new = lock.acquire()
    assert new is not None and new != old
    assert lock.release(old) is False  # the expired holder cannot release the new one
    assert lock.held()


def test_lock_context_manager(redis_client: redis_lib.Redis) -> None:
    lock = TtlLock(redis_client, KEYS.lock("ctx"), ttl_ms=5_000)
    with lock as token:
        assert isinstance(token, str) and lock.held()
        with pytest.raises(LockBusy), TtlLock(redis_client, KEYS.lock("ctx"), ttl_ms=5_000):
            pass
    assert not lock.held()


def test_lease_fencing_token_invalid_after_takeover(redis_client: redis_lib.Redis) -> None:
    lease = Lease(redis_client, KEYS, "placement", ttl_ms=80)
    t1 = lease.acquire("worker-a")
    assert t1 is not None and lease.valid(t1)
    assert lease.acquire("worker-a") == t1  # re-entrant for the holder
    assert lease.acquire("worker-b") is None
    assert lease.holder() == (t1, "worker-a")

    deadline = time.monotonic() + 2
    t2 = None
    while t2 is None and time.monotonic() < deadline:  # worker-a stalls past its TTL
        time.sleep(0.02)
        t2 = lease.acquire("worker-b")
    assert t2 is not None and t2 > t1
    assert not lease.valid(t1)  # the stale writer is fenced off
    assert lease.renew(t1) is False and lease.release(t1) is False
    assert lease.valid(t2) and lease.renew(t2)
    assert lease.release(t2) is True
    assert not lease.valid(t2) and lease.holder() is None
    t3 = lease.acquire("worker-a")
    assert t3 is not None and t3 > t2


def test_lease_refuses_bad_owner(redis_client: redis_lib.Redis) -> None:
    lease = Lease(redis_client, KEYS, "x", ttl_ms=1000)
    with pytest.raises(ValueError):
        lease.acquire("a|b")
