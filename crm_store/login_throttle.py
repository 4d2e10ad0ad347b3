"""Agent login throttling: after 5 failed logins from one client address, or 50 for one email
(from anywhere), within 15 minutes, further attempts are refused until the oldest failure ages
out.

The per-address limit stops one guesser; the much higher per-email limit stops a guesser who
spreads over many addresses. An email alone is not blocked after 5 failures: that would let
anyone lock an agent out by typing wrong passwords for their address (issue 15, #8). The
client address is the TCP peer: relay.stack starts uvicorn without trusting X-Forwarded-For
unless RELAY_FORWARDED_ALLOW_IPS names the proxies that set it.

The record is kept in memory, per process: a restart forgets it and several API workers each
count on their own. That is acceptable for slowing down password guessing against the embedded
setup; a shared store would be needed to enforce an exact limit across workers.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

MAX_FAILURES = 5  # per client address
MAX_EMAIL_FAILURES = 50  # per email, from any number of addresses
WINDOW_SECONDS = 15 * 60


class LoginThrottle:
    """Failed-login timestamps per email and per client address, pruned to the window."""

    def __init__(self, *, max_failures: int = MAX_FAILURES,
                 max_email_failures: int = MAX_EMAIL_FAILURES,
                 window_seconds: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.max_email_failures = max_email_failures
        self.window_seconds = window_seconds
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _limits(self, email: str, address: str | None) -> list[tuple[str, int]]:
        """The counters a login attempt touches, each with the failures it allows."""
        keys = [(f"email:{email.strip().lower()}", self.max_email_failures)]
        if address:
            keys.append((f"addr:{address}", self.max_failures))
        return keys

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def retry_after(self, *, email: str, address: str | None) -> int:
        """Seconds until another attempt is allowed for this email and address (0: allowed now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key, limit in self._limits(email, address):
                failures = self._recent(key, now)
                if len(failures) >= limit:
                    # Allowed again when enough of the counted failures have aged out.
                    oldest_counted = failures[len(failures) - limit]
                    wait = max(wait, oldest_counted + self.window_seconds - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, *, email: str, address: str | None) -> None:
        """Count one failed login for this email and address."""
        now = self.clock()
        with self._lock:
            for key, _ in self._limits(email, address):
                self._recent(key, now)
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, *, email: str) -> None:
        """Forget the email's failures after a correct password (the address keeps its count)."""
        with self._lock:
            self._failures.pop(self._limits(email, None)[0][0], None)


def retry_message(seconds: int) -> str:
    """The sentence telling a person when to try again."""
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return (f"Too many failed logins for this account or from this address. "
            f"Please try again in {minutes} {unit}.")


_create_lock = threading.Lock()


def throttle_for(state: Any) -> LoginThrottle:
    """The app's throttle, kept on app.state (created on first use; shared by API and console)."""
    with _create_lock:
        throttle: LoginThrottle | None = getattr(state, "login_throttle", None)
        if throttle is None:
            throttle = LoginThrottle()
            state.login_throttle = throttle
        return throttle
