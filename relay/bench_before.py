"""The code issue 14 measured, run beside today's in the same benchmark run.

A speed target is "at least double": the figure it doubles must come from this machine, in the
same run, under the same load — not from a number written down on another day. This runs the
commit issue 14 profiled (`BEFORE`, the last one before the cheaper turns) as it was: its own
files (`git archive`, unpacked under var/), this checkout's two virtual environments (that
commit's locks are a subset of today's), its own setup (its Rasa model trained once, about three
minutes, then kept) and its own `python -m relay.run` on free ports. relay.scalebench drives it
with the same widget turns as today's single process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from relay import loadtest
from relay.settings import ROOT

# Issue 14 was filed against this merge ("Merge arch", 1 December 2026); the next commit on the
# scale branch is the first of the cheaper turns.
BEFORE = "3829484"
ROLES = {"uvicorn": "api", "-m actions": "actions", "rasa run": "rasa"}


class BeforeUnavailable(RuntimeError):
    """The old commit could not be unpacked, set up or started; the message says why."""


@dataclass
class Running:
    """The old Relay: where it answers and its processes by role."""

    api_url: str
    pids: dict[str, int]


def checkout(rev: str = BEFORE) -> Path:
    """The commit's files under var/, unpacked once (venvs linked from this checkout)."""
    where = ROOT / "var" / "scalebench-before" / rev
    if not (where / "relay" / "run.py").exists():
        where.mkdir(parents=True, exist_ok=True)
        try:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev],
                                     check=True, capture_output=True).stdout
        except (OSError, subprocess.CalledProcessError) as error:
            raise BeforeUnavailable(f"git archive {rev} failed (a shallow clone?): "
                                    f"{getattr(error, 'stderr', b'')!r}") from error
        subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    for venv in (".venv", ".venv-rasa"):
        link = where / venv
        if not link.exists():
            link.symlink_to(ROOT / venv)
    return where


def _env(where: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update(RELAY_DATA_DIR=str(where / "var"), RELAY_API_PORT=str(ports["api"]),
               RELAY_RASA_PORT=str(ports["rasa"]), RELAY_ACTIONS_PORT=str(ports["actions"]))
    return env


def children(pid: int) -> dict[str, int]:
    """The roles of pid's child processes, by their command lines."""
    found: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                with contextlib.suppress(OSError):
                    line = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
                    for mark, role in ROLES.items():
                        if mark.encode() in line:
                            found[role] = int(child)
    return found


def _answers(client: httpx.Client, api_url: str) -> bool:
    """The bot itself answered (not the gateway's "saved" while Rasa is still loading)."""
    with contextlib.suppress(httpx.HTTPError, ValueError):
        response = client.post(f"{api_url}/chat/web-{uuid.uuid4().hex}/messages",
                               json={"text": "hi"})
        replies = (response.json().get("replies") or []) if response.status_code == 200 else []
        return bool(replies) and not any(loadtest.SAVED_MARK in (r.get("text") or "")
                                          for r in replies)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to relay.run, and to each of its services: that commit's relay.run, stopped
    while still starting, leaves them running (one of the faults issue 14 lists)."""
    services = list(children(process.pid).values())
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    for pid in services:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in services):
        time.sleep(0.5)
    for pid in services:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if process.poll() is None:
        process.kill()
    process.wait()


@contextlib.contextmanager
def running(ports: dict[str, int], rev: str = BEFORE, timeout: float = 900) -> Iterator[Running]:
    """Set the old commit up (model trained once) and run it until the block ends."""
    where = checkout(rev)
    env = _env(where, ports)
    python = str(where / ".venv" / "bin" / "python")
    log = where / "var" / "scalebench.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        setup = subprocess.run([python, "-m", "relay.setup"], cwd=where, env=env, stdout=out,
                               stderr=subprocess.STDOUT, check=False)
        if setup.returncode:
            raise BeforeUnavailable(f"its setup failed; see {log}")
        process = subprocess.Popen([python, "-m", "relay.run"], cwd=where, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    api_url = f"http://127.0.0.1:{ports['api']}"
    try:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=30) as client:
            while not _answers(client, api_url):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise BeforeUnavailable(f"it did not answer a chat message; see {log}")
                time.sleep(1.0)
        pids = children(process.pid)
        missing = set(ROLES.values()) - set(pids)
        if missing:
            raise BeforeUnavailable(f"no {', '.join(sorted(missing))} process under relay.run")
        yield Running(api_url, pids)
    finally:
        _stop(process)
