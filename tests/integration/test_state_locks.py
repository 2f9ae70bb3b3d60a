"""TtlLock and Lease against a real Redis."""

from __future__ import annotations

import pytest
import redis as redis_lib

from athena.state import Keys, Lease, LockBusy, TtlLock
from tests.waiting import wait_for

KEYS = Keys("test", "acct1")


def test_lock_is_exclusive_and_only_the_holder_releases(redis_client: redis_lib.Redis) -> None:
    lock = TtlLock(redis_client, KEYS.lock("close:BTC"), ttl_ms=60_000)
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
    new = wait_for(lock.acquire, what="the expired lock")  # free again once its TTL ran out, on Redis's clock
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
    lease = Lease(redis_client, KEYS, "placement", ttl_ms=60_000)  # held for the checks below
    t1 = lease.acquire("worker-a")
    assert t1 is not None and lease.valid(t1)
    assert lease.acquire("worker-a") == t1  # re-entrant for the holder
    assert lease.acquire("worker-b") is None
    assert lease.holder() == (t1, "worker-a")
    assert 0 < int(redis_client.pttl(lease.key)) <= 60_000  # the lease carries its TTL

    redis_client.pexpire(lease.key, 1)  # worker-a stalls past its TTL: Redis lets the lease go
    t2 = wait_for(lambda: lease.acquire("worker-b"), what="the lease to expire")
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
