"""begin_placement (place_begin.lua): lease, record, marker, halt and reservation in one atomic step."""

from __future__ import annotations

import threading
from dataclasses import replace
from decimal import Decimal

import redis as redis_lib

from athena.domain import OrderRequest, OrdType, Side
from athena.ops.placement import owner_id
from athena.state import Keys, Lease
from athena.state.placing import PlaceStart, begin_placement, placing_marker

KEYS = Keys("test", "placing")


def _begin(r: redis_lib.Redis, owner: str, cl: str) -> PlaceStart:
    return begin_placement(r, KEYS, owner, cl, lease_ttl_ms=5_000, now_ms=1, marker_ttl_s=60)


def _clear(r: redis_lib.Redis) -> None:
    for k in r.keys("athena:test:placing:*"):
        r.delete(k)


def test_lease_held_by_another_owner_grants_nothing_and_sets_no_marker(redis_client: redis_lib.Redis) -> None:
    _clear(redis_client)
    redis_client.hset(KEYS.order("c1"), mapping={"state": "created"})
    held = Lease(redis_client, KEYS, "placement", 5_000).acquire("other")
    assert held is not None
    start = _begin(redis_client, "me", "c1")
    assert start.token is None and start.state is None
    assert not redis_client.exists(placing_marker(KEYS, "c1"))


def test_first_attempt_sets_the_marker_once_and_reads_state_and_halt(redis_client: redis_lib.Redis) -> None:
    _clear(redis_client)
    redis_client.hset(KEYS.order("c2"), mapping={"state": "created"})
    first = _begin(redis_client, "me", "c2")
    assert first.token is not None and first.state == "created" and first.first_attempt and not first.halted
    again = _begin(redis_client, "me", "c2")  # a retry by the same owner: same token, not a first attempt
    assert again.token == first.token and not again.first_attempt
    redis_client.hset(KEYS.halt, mapping={"reason": "test"})
    assert _begin(redis_client, "me", "c2").halted


def test_unrecorded_order_gets_no_marker(redis_client: redis_lib.Redis) -> None:
    _clear(redis_client)
    start = _begin(redis_client, "me", "nobody")
    assert start.token is not None and start.state is None
    assert not redis_client.exists(placing_marker(KEYS, "nobody"))


def test_two_threads_of_one_process_are_two_lease_owners(redis_client: redis_lib.Redis) -> None:
    """The threads pool runs placements side by side in one process: each thread must be its own
    owner, or the lease would re-grant itself to a second placement while the first holds it."""
    _clear(redis_client)
    redis_client.hset(KEYS.order("c3"), mapping={"state": "created"})
    mine = _begin(redis_client, owner_id(), "c3")
    assert mine.token is not None
    other: list[PlaceStart] = []
    t = threading.Thread(target=lambda: other.append(_begin(redis_client, owner_id(), "c3")))
    t.start()
    t.join()
    assert other[0].token is None


def test_the_decisions_reservation_is_read_with_the_lease_as_its_recorded_pass(
    redis_client: redis_lib.Redis,
) -> None:
    _clear(redis_client)
    redis_client.hset(KEYS.order("c4"), mapping={"state": "sent"})
    req = OrderRequest(
        "c4", "BTC-USDT-SWAP", Side.BUY, OrdType.LIMIT, Decimal("2"), Decimal("100"), strategy="alpha"
    )
    assert not _begin(redis_client, "me", "c4").checked(req)  # nothing reserved: no pass recorded
    redis_client.hset(KEYS.reservation("c4"), mapping={"strategy": "alpha", "margin": "66.67", "sz": "2.00"})
    start = _begin(redis_client, "me", "c4")
    assert (start.reserved_by, start.reserved_sz) == ("alpha", "2.00") and start.checked(req)
    assert not start.checked(replace(req, sz=Decimal("20")))  # not the entry that was checked
    assert not start.checked(replace(req, strategy="beta"))
    unrecorded = _begin(redis_client, "me", "nobody")  # read even when the order has no record
    assert unrecorded.state is None and not unrecorded.checked(replace(req, clOrdId="nobody"))


def test_a_retry_by_the_lease_owner_extends_the_lease(redis_client: redis_lib.Redis) -> None:
    """A slow attempt's retry keeps the lease for a whole TTL from now, or it could lapse mid-send and let
    a second writer place the same clOrdId."""
    _clear(redis_client)
    redis_client.hset(KEYS.order("c5"), mapping={"state": "created"})
    ttl = 600_000  # minutes: no wall-clock gap between the calls below can matter
    first = begin_placement(redis_client, KEYS, "me", "c5", lease_ttl_ms=ttl, now_ms=1, marker_ttl_s=60)
    redis_client.pexpire(KEYS.lease("placement"), ttl // 2)  # time has passed: half the lease is left
    again = begin_placement(redis_client, KEYS, "me", "c5", lease_ttl_ms=ttl, now_ms=2, marker_ttl_s=60)
    assert again.token == first.token
    assert redis_client.pttl(KEYS.lease("placement")) > ttl // 2


def test_the_orders_strategy_pause_is_read_with_the_lease(redis_client: redis_lib.Redis) -> None:
    _clear(redis_client)
    redis_client.hset(KEYS.order("c6"), mapping={"state": "created"})
    redis_client.hset(KEYS.strategy_pause, mapping={"alpha": "news"})

    def begin(strategy: str) -> PlaceStart:
        return begin_placement(
            redis_client, KEYS, "me", "c6", lease_ttl_ms=5_000, now_ms=1, marker_ttl_s=60, strategy=strategy
        )

    assert begin("alpha").paused
    assert not begin("beta").paused  # another strategy's pause is not this order's
    assert not begin("").paused  # an order of no strategy
