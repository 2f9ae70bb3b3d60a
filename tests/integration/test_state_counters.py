"""RateCounter and Breaker against a real Redis, seen from two clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_lib

from athena.procs import wait_until
from athena.state import Breaker, Keys, RateCounter
from athena.state.counters import Backoff

KEYS = Keys("test", "acct1")


@pytest.fixture()
def other_client(redis_url: str) -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)  # a second process's view
    yield client
    client.close()


def _redis_ms(client: redis_lib.Redis) -> int:
    sec, usec = client.time()
    return int(sec) * 1000 + int(usec) // 1000


def test_rate_counter_sliding_window(redis_client: redis_lib.Redis, other_client: redis_lib.Redis) -> None:
    c = RateCounter(redis_client, KEYS.order_rate("s1"), window_s=60)  # nothing leaves it during the test
    assert c.count() == 0
    assert c.hit() == 1
    assert c.hit(3) == 4
    assert RateCounter(other_client, KEYS.order_rate("s1"), window_s=60).count() == 4
    short = RateCounter(redis_client, KEYS.order_rate("s2"), window_s=0.3)
    before = _redis_ms(redis_client)
    assert short.hit(2) == 2
    assert wait_until(lambda: short.count() == 0, timeout=10)  # the window slides on Redis's clock ...
    assert _redis_ms(redis_client) - before >= 300  # ... never sooner than window_s
    assert short.hit() == 1


def test_rate_counter_allow_caps_the_window(redis_client: redis_lib.Redis) -> None:
    c = RateCounter(redis_client, KEYS.order_rate("s3"), window_s=10)
    assert [c.allow(3) for _ in range(5)] == [True, True, True, False, False]
    assert c.count() == 3
    assert not c.allow(5, n=3)
    c.reset()
    assert c.count() == 0


def test_breaker_opens_after_threshold_visible_everywhere_then_half_opens(
    redis_client: redis_lib.Redis, other_client: redis_lib.Redis
) -> None:
    # one breaker seen by two processes: `quick` opens it for 0.3 s, `slow` for a minute (so "open"
    # checks never race the clock); the open period runs on Redis's TIME
    quick = Breaker(redis_client, KEYS, "okx_rest", threshold=3, open_s=0.3)
    slow = Breaker(other_client, KEYS, "okx_rest", threshold=3, open_s=60)
    assert not slow.record_failure() and not slow.record_failure()
    assert quick.failures() == 2 and quick.state() == "closed"
    assert slow.record_failure() is True
    assert slow.is_open() and quick.is_open()  # visible everywhere
    quick.record_success()
    assert slow.state() == "closed" and slow.failures() == 0

    tripped = _redis_ms(redis_client)
    assert not quick.record_failure() and not quick.record_failure() and quick.record_failure()
    assert wait_until(lambda: slow.state() == "half_open", timeout=10)  # the open period ends by itself
    assert _redis_ms(redis_client) - tripped >= 300  # not before open_s
    assert slow.record_failure() is True  # one failure while half-open re-opens at once
    assert quick.is_open()
    assert quick.failures() == 0
    quick.record_success()
    assert slow.state() == "closed" and slow.failures() == 0


def test_breaker_success_resets_consecutive_count(redis_client: redis_lib.Redis) -> None:
    b = Breaker(redis_client, KEYS, "x", threshold=2, open_s=60)
    b.record_failure()
    b.record_success()
    assert not b.record_failure()
    assert b.record_failure()
    assert b.is_open()


class HeldClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_breaker_on_an_injected_clock(redis_client: redis_lib.Redis) -> None:
    clock = HeldClock(1000.0)
    b = Breaker(redis_client, KEYS, "clocked", threshold=2, open_s=60, clock=clock)
    assert not b.record_failure() and b.record_failure()
    assert b.state() == "open" and b.open_for_s() == 60
    clock.t += 59.5
    assert b.is_open() and b.open_for_s() == 0.5
    clock.t += 0.5
    assert b.state() == "half_open" and b.open_for_s() == 0
    assert b.record_failure() and b.trips() == 2


def test_backoff_doubles_to_its_cap_and_one_claim_attempts_at_a_time(redis_client: redis_lib.Redis) -> None:
    clock = HeldClock(1000.0)
    gate = Backoff(redis_client, KEYS.backoff("job"), min_s=1, max_s=60, lease_s=30, clock=clock)
    other = Backoff(
        redis_client, KEYS.backoff("job"), min_s=1, max_s=60, lease_s=30, clock=clock
    )  # another run
    waits = []
    for _ in range(9):
        assert gate.claim() == 0  # due: this run attempts ...
        assert other.claim() == 30  # ... and nobody else until it settles (or its lease ends)
        waits.append(gate.failed())
        assert other.claim() == waits[-1]  # not due before the backoff
        clock.t += waits[-1]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert gate.state().streak == 9 and gate.state().next_at_ms == int(clock.t * 1000)
    assert gate.claim() == 0
    assert gate.failed(wait_s=90) == 90  # a caller that knows better (an open breaker's pause)
    clock.t += 90
    assert gate.claim() == 0
    gate.succeeded()
    assert gate.state().streak == 0 and other.claim() == 0
