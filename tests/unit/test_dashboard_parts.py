"""The dashboard's parts that need no server: sessions and their expiry, the equity curve it keeps."""

from __future__ import annotations

from typing import Any

import pytest

from athena.dashboard.auth import MAX_SESSIONS, Sessions, same_token
from athena.dashboard.feed import CURVE_POINTS, KEEP_EVERY_MS, Feed, thin


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_password_sessions_and_expiry() -> None:
    clock = Clock()
    sessions = Sessions("right-pw", ttl_s=60, clock=clock)
    assert (
        sessions.password_ok("right-pw")
        and not sessions.password_ok("right-pw ")
        and not sessions.password_ok("")
    )
    s = sessions.start()
    assert sessions.get(s.sid) is s and s.csrf != s.sid and len(s.csrf) >= 32
    assert sessions.get("forged") is None and sessions.get(None) is None
    clock.now += 60.5
    assert sessions.get(s.sid) is None  # expired
    t = sessions.start()
    sessions.end(t.sid)
    assert sessions.get(t.sid) is None
    assert "right-pw" not in repr(sessions)
    with pytest.raises(ValueError):
        Sessions("", ttl_s=60)


def test_sessions_are_bounded() -> None:
    clock = Clock()
    sessions = Sessions("pw", ttl_s=600, clock=clock)
    first = sessions.start()
    for _ in range(MAX_SESSIONS + 5):
        clock.now += 1
        last = sessions.start()
    assert sessions.get(first.sid) is None and sessions.get(last.sid) is last


def test_same_token() -> None:
    assert same_token("abc", "abc")
    assert not same_token("abc", "abd") and not same_token("", "") and not same_token(None, "x")


def test_thin_keeps_the_ends() -> None:
    pts = list(range(1000))
    out = thin(pts, 10)
    assert len(out) == 10 and out[0] == 0 and out[-1] == 999 and out == sorted(out)
    assert thin(pts[:5], 10) == pts[:5]


def test_curve_keeps_a_point_every_few_seconds_and_the_newest() -> None:
    feed: Any = Feed.__new__(Feed)  # only its curve: no Redis, no journal
    from collections import deque

    feed.curve, feed.latest = deque(maxlen=100), None
    feed._add_point((0, "100", "0"))
    quarter = KEEP_EVERY_MS // 4
    feed._add_point((quarter, "101", "0"))
    feed._add_point((2 * quarter, "99", "0.0198"))
    assert [p[0] for p in feed._curve_points()] == [0, 2 * quarter]  # the kept one and the newest
    feed._add_point((KEEP_EVERY_MS, "98", "0.0297"))
    assert [p[0] for p in feed.curve] == [0, KEEP_EVERY_MS] and feed.latest is None
    for i in range(2, 2000):
        feed._add_point((i * KEEP_EVERY_MS, "100", "0"))
    assert len(feed._curve_points()) <= CURVE_POINTS


def test_redis_down_is_shown_as_one_sentence(test_settings: Any) -> None:
    import redis

    from athena.testing.redis_server import free_port

    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    feed = Feed(test_settings, dead, journal=None)
    feed._add_point((1, "100", "0"))
    doc = feed.build()
    assert doc["error"].startswith("Redis stopped answering (ConnectionError") and "\n" not in doc["error"]
    assert doc["account"] == test_settings.account and doc["curve"] == [[1, "100", "0"]]  # the chart stays
