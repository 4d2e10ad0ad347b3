"""Agent login throttling: after 5 failed logins for one email, or from one client address,
within 15 minutes, further attempts are refused until the oldest failure ages out.

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

MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60


class LoginThrottle:
    """Failed-login times per email and per client address, within the window."""

    def __init__(self, *, max_failures: int = MAX_FAILURES, window_seconds: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = now, counter: Counter | None = None) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.clock = clock
        self.counter: Counter = counter if counter is not None else MemoryCounter()

    @staticmethod
    def _keys(email: str, address: str | None) -> list[str]:
        keys = [f"login:email:{email.strip().lower()}"]
        if address:
            keys.append(f"login:addr:{address}")
        return keys

    def retry_after(self, *, email: str, address: str | None) -> int:
        """Seconds until another attempt is allowed for this email and address (0: allowed now)."""
        moment = self.clock()
        wait = 0.0
        for key in self._keys(email, address):
            failures = self.counter.recent(key, moment, self.window_seconds)
            if len(failures) >= self.max_failures:
                # Allowed again when enough of the counted failures have aged out.
                oldest_counted = failures[len(failures) - self.max_failures]
                wait = max(wait, oldest_counted + self.window_seconds - moment)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, *, email: str, address: str | None) -> None:
        """Count one failed login for this email and address."""
        moment = self.clock()
        for key in self._keys(email, address):
            self.counter.hit(key, moment, self.window_seconds)

    def succeeded(self, *, email: str) -> None:
        """Forget the email's failures after a correct password (the address keeps its count)."""
        self.counter.forget(self._keys(email, None)[0])


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
