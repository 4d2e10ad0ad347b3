"""Agent login throttling: after 5 failed logins from one client address, or 50 for one email
(from anywhere), within 15 minutes, further attempts are refused until the oldest failure ages
out.

The per-address limit stops one guesser; the much higher per-email limit stops a guesser who
spreads over many addresses. An email alone is not blocked after 5 failures: that would let
anyone lock an agent out by typing wrong passwords for their address (issue 15, #8). The
client address is the TCP peer: relay.stack starts uvicorn without trusting X-Forwarded-For
unless RELAY_FORWARDED_ALLOW_IPS names the proxies that set it.

The failures are counted in a `crm_store.counters.Counter`: in this process for the embedded
setup, in Redis when RELAY_REDIS_URL is set, so that the cluster's API workers count a client's
tries together (each worker counting on its own would allow five per worker).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from crm_store.counters import Counter, MemoryCounter, now

MAX_FAILURES = 5  # per client address
MAX_EMAIL_FAILURES = 50  # per email, from any number of addresses
WINDOW_SECONDS = 15 * 60


class LoginThrottle:
    """Failed-login times per email and per client address, within the window."""

    def __init__(self, *, max_failures: int = MAX_FAILURES,
                 max_email_failures: int = MAX_EMAIL_FAILURES,
                 window_seconds: float = WINDOW_SECONDS, clock: Callable[[], float] = now,
                 counter: Counter | None = None) -> None:
        self.max_failures = max_failures
        self.max_email_failures = max_email_failures
        self.window_seconds = window_seconds
        self.clock = clock
        self.counter: Counter = counter if counter is not None else MemoryCounter()

    def _limits(self, email: str, address: str | None) -> list[tuple[str, int]]:
        """The counters a login attempt touches, each with the failures it allows."""
        keys = [(f"login:email:{email.strip().lower()}", self.max_email_failures)]
        if address:
            keys.append((f"login:addr:{address}", self.max_failures))
        return keys

    def retry_after(self, *, email: str, address: str | None) -> int:
        """Seconds until another attempt is allowed for this email and address (0: allowed now)."""
        moment = self.clock()
        wait = 0.0
        for key, limit in self._limits(email, address):
            failures = self.counter.recent(key, moment, self.window_seconds)
            if len(failures) >= limit:
                # Allowed again when enough of the counted failures have aged out.
                oldest_counted = failures[len(failures) - limit]
                wait = max(wait, oldest_counted + self.window_seconds - moment)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, *, email: str, address: str | None) -> None:
        """Count one failed login for this email and address."""
        moment = self.clock()
        for key, _ in self._limits(email, address):
            self.counter.hit(key, moment, self.window_seconds)

    def succeeded(self, *, email: str) -> None:
        """Forget the email's failures after a correct password (the address keeps its count)."""
        self.counter.forget(self._limits(email, None)[0][0])


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
