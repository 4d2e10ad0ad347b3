"""Nightly jobs the supervisor (relay.run) starts: mine knowledge gaps, recompute segments.

Why a CLI the supervisor runs rather than a scheduler inside the API: the jobs are CPU-heavy
batch work (embedding thousands of questions, clustering, k-means over every customer) that
should not share the API's process, memory and event loop with live agents; with several API
replicas (scale-out) an in-process scheduler would run once per replica, while the supervisor
exists once per installation; and the same commands (`python -m crm_store.gaps --trigger
nightly`, `python -m crm_store.segments`) serve a cron job or a systemd timer where Relay runs
without its supervisor. A run already in progress (e.g. started from the Insights page) makes
the gap job exit quietly: the database says who is mining.

RELAY_NIGHTLY_AT sets the UTC time (HH:MM, default 03:30); an empty value turns it off.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path

JOBS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("knowledge gaps", ("-m", "crm_store.gaps", "--trigger", "nightly")),
    ("loyalty segments", ("-m", "crm_store.segments")),
)


def parse_at(value: str) -> time | None:
    """'03:30' -> 03:30 UTC; '' -> None (off); ValueError with a sentence otherwise."""
    if not value.strip():
        return None
    try:
        hours, minutes = (int(part) for part in value.strip().split(":"))
        return time(hours, minutes, tzinfo=UTC)
    except ValueError:
        raise ValueError(f"RELAY_NIGHTLY_AT must be HH:MM (UTC) or empty, not {value!r}") from None


class Nightly:
    """Starts the jobs once a day at `at`, one after the other, in a background thread."""

    def __init__(
        self, at: time | None, *, python: str, env: Mapping[str, str], cwd: Path,
        log_path: Path, jobs: Sequence[tuple[str, Sequence[str]]] = JOBS,
        today: date | None = None,
    ) -> None:
        self.at, self.python, self.env, self.cwd = at, python, dict(env), cwd
        self.log_path, self.jobs = log_path, list(jobs)
        # Never run for a day whose time has already passed when the supervisor started.
        self.last_day: date | None = today or datetime.now(UTC).date()
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = False

    def due(self, now: datetime) -> bool:
        """Whether the jobs should start now (past `at`, not yet today, not running)."""
        if self.at is None or (self._thread is not None and self._thread.is_alive()):
            return False
        return now.date() != self.last_day and now.timetz() >= self.at

    def tick(self, now: datetime | None = None) -> bool:
        """Start the jobs if they are due; returns whether they were started."""
        now = now or datetime.now(UTC)
        if not self.due(now):
            return False
        self.last_day = now.date()
        self._thread = threading.Thread(target=self._run, name="relay-nightly", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            for name, args in self.jobs:
                if self._stopping:
                    return
                log.write(f"==> {datetime.now(UTC).isoformat(timespec='seconds')} {name}\n"
                          .encode())
                log.flush()
                self._process = subprocess.Popen([self.python, *args], cwd=self.cwd,
                                                 env=self.env, stdout=log,
                                                 stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL)
                code = self._process.wait()
                log.write(f"<== {name} exited with {code}\n".encode())
                log.flush()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a started run to finish (tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        """Stop a run in progress (the supervisor is shutting down)."""
        self._stopping = True
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self.wait(timeout=5)
