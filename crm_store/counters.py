"""Sliding-window event counters that every API worker sees: the login throttle, rate limits.

Two backends behind one small interface: `MemoryCounter` (one process: the embedded setup) and
`RedisCounter` (a sorted set per key in Redis: the cluster, where a client's tries land on
different workers and must still count once). `connect(redis_url)` picks one; nothing connects
at import. Times are wall-clock seconds (time.time), so that workers agree.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from typing import Any, Protocol


class Counter(Protocol):
    """Timestamps of events per key, kept for a window."""

    def hit(self, key: str, now: float, window: float) -> None:
        """Record one event for key at now."""

    def recent(self, key: str, now: float, window: float) -> list[float]:
        """The key's event times within (now - window, now], oldest first."""

    def forget(self, key: str) -> None:
        """Drop the key's events."""

    def close(self) -> None:
        """Release connections."""


class MemoryCounter:
    """Counts in this process only (enough when one process serves every request)."""

    def __init__(self) -> None:
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _pruned(self, key: str, now: float, window: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            return deque()
        while events and events[0] <= now - window:
            events.popleft()
        if not events:
            del self._events[key]
        return events

    def hit(self, key: str, now: float, window: float) -> None:
        """Record one event."""
        with self._lock:
            self._pruned(key, now, window)
            self._events.setdefault(key, deque()).append(now)

    def recent(self, key: str, now: float, window: float) -> list[float]:
        """Events within the window."""
        with self._lock:
            return list(self._pruned(key, now, window))

    def forget(self, key: str) -> None:
        """Drop the key."""
        with self._lock:
            self._events.pop(key, None)

    def close(self) -> None:
        """Nothing to release."""


class RedisCounter:
    """Counts in Redis: a sorted set per key (score = time), expiring with its window."""

    def __init__(self, client: Any, prefix: str = "relay:count:") -> None:
        self.client = client
        self.prefix = prefix

    def hit(self, key: str, now: float, window: float) -> None:
        """Record one event (a unique member, so two workers' hits at one instant both count)."""
        name = self.prefix + key
        pipe = self.client.pipeline(transaction=True)
        pipe.zremrangebyscore(name, "-inf", now - window)
        pipe.zadd(name, {f"{now}:{uuid.uuid4().hex[:8]}": now})
        pipe.expire(name, int(window) + 1)
        pipe.execute()

    def recent(self, key: str, now: float, window: float) -> list[float]:
        """Events within the window."""
        name = self.prefix + key
        pipe = self.client.pipeline(transaction=True)
        pipe.zremrangebyscore(name, "-inf", now - window)
        pipe.zrangebyscore(name, f"({now - window}", now, withscores=True)
        _, members = pipe.execute()
        return [float(score) for _, score in members]

    def forget(self, key: str) -> None:
        """Drop the key."""
        self.client.delete(self.prefix + key)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def connect(redis_url: str) -> Counter:
    """RedisCounter on redis_url, or MemoryCounter when it is empty."""
    if not redis_url:
        return MemoryCounter()
    import redis

    return RedisCounter(redis.Redis.from_url(redis_url, socket_timeout=2,
                                             health_check_interval=30))


def now() -> float:
    """Wall-clock seconds: what every worker's counts are kept in."""
    return time.time()


class RateLimit:
    """At most per_minute events per key in any 60 seconds (0: no limit)."""

    WINDOW = 60.0

    def __init__(self, *, counter: Counter, name: str, per_minute: int) -> None:
        self.counter = counter
        self.name = name
        self.per_minute = per_minute

    def take(self, key: str) -> int:
        """Count one event for key if allowed and return 0; else the seconds to wait."""
        if self.per_minute <= 0:
            return 0
        moment = now()
        name = f"rate:{self.name}:{key}"
        recent = self.counter.recent(name, moment, self.WINDOW)
        if len(recent) >= self.per_minute:
            oldest_counted = recent[len(recent) - self.per_minute]
            return max(1, int(oldest_counted + self.WINDOW - moment + 0.999))
        self.counter.hit(name, moment, self.WINDOW)
        return 0
