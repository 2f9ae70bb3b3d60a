"""EventStream over a real Redis Stream: publish/read, blocking read, Decimal round trip."""

from __future__ import annotations

import threading

import redis as redis_lib

from athena.domain import D, Fill, PosSide, Side
from athena.domain.codec import fill_from_json, to_json
from athena.state import EventStream, Keys

KEYS = Keys("test", "acct1")


def _fill() -> Fill:
    return Fill(
        clOrdId="s1x1",
        instId="BTC-USDT-SWAP",
        side=Side.BUY,
        posSide=PosSide.NET,
        fillSz=D("0.10"),
        fillPx=D("50000.123456789012345678"),
        accFillSz=D("0.10"),
        fee=D("-0.0025"),
        tradeId="t9",
    )


def test_publish_read_decimal_round_trip(redis_client: redis_lib.Redis) -> None:
    stream = EventStream(redis_client, KEYS.events)
    start = stream.latest_id()
    assert start == "0-0"
    id1 = stream.publish("order_filled", {"fill": to_json(_fill()), "px": D("1.10")})
    id2 = stream.publish("ping", {})
    events = stream.read(start)
    assert [e[0] for e in events] == [id1, id2]
    _, kind, payload = events[0]
    assert kind == "order_filled"
    assert fill_from_json(payload["fill"]) == _fill()
    assert payload["px"] == "1.10"  # Decimal as string, exponent kept
    assert stream.read(id2) == []
    assert stream.length() == 2


def test_blocking_read_wakes_on_publish(redis_client: redis_lib.Redis, redis_url: str) -> None:
    stream = EventStream(redis_client, KEYS.events)
    last = stream.latest_id()
    publisher = EventStream(redis_lib.Redis.from_url(redis_url), KEYS.events)
    timer = threading.Timer(0.1, lambda: publisher.publish("tick", {"n": 1}))
    timer.start()
    try:
        events = stream.read(last, block_ms=30_000)  # returns as soon as the event is there
    finally:
        timer.cancel()
        timer.join(30)  # the publish may still be reading its reply: close only after it
        publisher.redis.close()
    assert [(k, p) for _, k, p in events] == [("tick", {"n": 1})]
    assert stream.read(events[-1][0], block_ms=50) == []  # bounded wait, nothing new


def test_maxlen_trims_approximately(redis_client: redis_lib.Redis) -> None:
    stream = EventStream(redis_client, KEYS.events, maxlen=10)
    for i in range(500):
        stream.publish("n", {"i": i})
    assert stream.length() < 500
    assert stream.read(count=1000)[-1][2] == {"i": 499}
