"""Counters shared by API workers (crm_store/counters.py): in Redis, two workers' login
throttles and rate limits count together; in memory, each process counts alone."""

from __future__ import annotations

import uuid

import redis

from crm_store import counters
from crm_store.login_throttle import LoginThrottle


def test_two_workers_share_the_login_throttle_through_redis(redis_url: str) -> None:
    first = LoginThrottle(counter=counters.connect(redis_url))
    second = LoginThrottle(counter=counters.connect(redis_url))  # another API worker
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    for n in range(5):
        worker = first if n % 2 else second
        assert worker.retry_after(email=email, address=None) == 0
        worker.failed(email=email, address=None)
    assert first.retry_after(email=email, address=None) > 14 * 60
    assert second.retry_after(email=email, address=None) > 14 * 60
    second.succeeded(email=email)
    assert first.retry_after(email=email, address=None) == 0


def test_in_memory_each_worker_counts_alone() -> None:
    first, second = LoginThrottle(), LoginThrottle()
    for n in range(5):
        (first if n % 2 else second).failed(email="x@example.com", address=None)
    assert first.retry_after(email="x@example.com", address=None) == 0


def test_the_chat_rate_limit_counts_across_workers(redis_url: str) -> None:
    limits = [counters.RateLimit(counter=counters.connect(redis_url), name="chat", per_minute=4)
              for _ in range(2)]
    key = f"web-{uuid.uuid4().hex}"
    assert [limits[n % 2].take(key) for n in range(4)] == [0, 0, 0, 0]
    assert limits[0].take(key) > 0 and limits[1].take(key) > 0
    assert limits[0].take(f"web-{uuid.uuid4().hex}") == 0
    keys = redis.Redis.from_url(redis_url).keys("relay:count:rate:chat:*")
    assert keys, "the counts were not kept in Redis"
