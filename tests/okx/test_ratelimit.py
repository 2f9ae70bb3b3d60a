from __future__ import annotations

import time

import pytest

from athena.okx.errors import OkxRateLimited
from athena.okx.ratelimit import Limit, RateLimiter, TokenBucket


def test_bucket_allows_burst_then_waits() -> None:
    t0 = time.monotonic()
    b = TokenBucket(5, 0.5)  # 10 per second
    assert [b.reserve() for _ in range(5)] == [0.0] * 5
    wait = b.reserve()
    elapsed = time.monotonic() - t0  # refilled meanwhile: at most elapsed x 10 tokens
    assert max(0.0, 0.1 - elapsed) - 1e-9 <= wait <= 0.1 + 1e-9  # one token short: 0.1 s less what refilled


def test_limiter_waits_briefly_then_refuses() -> None:
    lim = RateLimiter(max_wait_s=0.15, limits={"/x": Limit(2, 0.2)})
    t0 = time.monotonic()
    for _ in range(3):  # third waits ~0.1 s
        lim.acquire("/x")
    assert time.monotonic() - t0 >= 0.08
    slow = RateLimiter(max_wait_s=30, limits={"/x": Limit(1, 60)})
    t0 = time.monotonic()
    slow.acquire("/x")
    with pytest.raises(OkxRateLimited) as info:
        slow.acquire("/x")  # would wait ~60 s > 30 s
    assert 60 - (time.monotonic() - t0) - 1e-6 <= info.value.retry_after <= 60
    with pytest.raises(OkxRateLimited) as again:
        slow.acquire("/x")  # the refused call gave its token back: the same wait (not two tokens' worth)
    assert again.value.retry_after <= 60 and slow.waited_s == 0  # and nothing slept


def test_per_instrument_buckets_and_penalty() -> None:
    lim = RateLimiter(max_wait_s=0.05, limits={"/trade/order": Limit(1, 10, per_inst=True)})
    lim.acquire("/trade/order", "A")
    lim.acquire("/trade/order", "B")  # separate bucket
    with pytest.raises(OkxRateLimited):
        lim.acquire("/trade/order", "A")
    lim2 = RateLimiter(max_wait_s=1.0, limits={"/y": Limit(100, 1)})
    lim2.penalize("/y", "", 0.2)
    t0 = time.monotonic()
    lim2.acquire("/y")
    assert time.monotonic() - t0 >= 0.18


def test_family_names() -> None:
    assert RateLimiter.family("GET", "/api/v5/trade/order?instId=X") == "GET /trade/order"
    assert RateLimiter.family("POST", "/api/v5/trade/order") == "/trade/order"
    assert RateLimiter.family("GET", "/api/v5/account/balance") == "/account/balance"
