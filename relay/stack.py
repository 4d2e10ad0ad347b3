"""Start, watch and stop Relay's processes: Rasa, the action server, the API (and Telegram).

Used by `python -m relay.run` and by the integration tests' fixture, so the tests exercise
exactly the processes a user starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from relay.channels import TELEGRAM
from relay.settings import ROOT, Settings

APP_PYTHON = ROOT / ".venv" / "bin" / "python"
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
# Rasa's TensorFlow and BLAS on one thread each: a turn's models see one short message, and
# thread pools handing such work between cores cost more CPU than they save. Measured with
# relay.scalebench at c=4, the same load: Rasa 36.1 -> 30.7 CPU ms per turn (docs/operations.md,
# "Cost of a turn"). Rasa reads the TF_ variables at start-up; training keeps its threads.
RASA_ENV = {"TF_INTRA_OP_PARALLELISM_THREADS": "1", "TF_INTER_OP_PARALLELISM_THREADS": "1",
            "OMP_NUM_THREADS": "1"}
ENDPOINTS = ROOT / "bot" / "endpoints.yml"


class StackError(RuntimeError):
    """A service did not come up; the message names it and says where its log is."""


RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)  # a crashed service waits this long, then longer
STABLE_SECONDS = 60.0  # a service up this long starts its back-off again from the first delay


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the supervisor dies, even by SIGKILL (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Service:
    """One child process and how to tell that it answers."""

    name: str
    command: list[str]
    ready_url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)  # on top of the stack's environment
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    died_at: float | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self, env: Mapping[str, str]) -> None:
        """Spawn the process in its own process group, output to its log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._log is None:
            self._log = self.log_path.open("ab")
        self.started_at = time.monotonic()
        self.died_at = None
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env={**env, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # the supervisor starts no threads
        )

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return None if self.process is None else self.process.pid

    def answers(self) -> bool:
        """True once the service's readiness URL returns 200 (tcp://host:port: accepts)."""
        if self.ready_url.startswith("tcp://"):
            host, _, port = self.ready_url.removeprefix("tcp://").rpartition(":")
            return not port_is_free(host, int(port))
        try:
            return httpx.get(self.ready_url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def exited(self) -> int | None:
        """The exit code if the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the service's log, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL the process group at once, as a crash would end it (no shutdown, no flush)."""
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process, signal.SIGKILL)
            self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def terminate(self) -> None:
        """SIGTERM the process group, if it runs (stop() waits for it)."""
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group, then SIGKILL what is left after `timeout` seconds."""
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def tracker_store_url(database_url: str) -> str:
    """The same database as a URL for Rasa's SQLAlchemy 1.4 (psycopg2 instead of psycopg 3)."""
    scheme, sep, rest = database_url.partition("://")
    if scheme.startswith("postgresql"):
        return f"postgresql{sep}{rest}"
    if scheme.startswith("sqlite"):
        return f"sqlite{sep}{rest}"
    return database_url


def settings_env(settings: Settings) -> dict[str, str]:
    """Every field of the Settings model as the RELAY_* variable it is read from.

    Generated from the model, so a new setting reaches the children without an edit here.
    Lists are JSON (pydantic-settings parses complex fields that way); the rest is str().
    """
    prefix = settings.model_config.get("env_prefix", "")
    env = {}
    for name in type(settings).model_fields:
        value: Any = getattr(settings, name)
        if isinstance(value, list | tuple | dict):
            text = json.dumps(value, default=str)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        env[f"{prefix}{name}".upper()] = text
    return env


def child_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for every child: the resolved settings, so all processes agree."""
    env = dict(os.environ if base is None else base)
    env.update(settings_env(settings))
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            # read by bot/endpoints.yml inside Rasa
            "RELAY_ACTIONS_WEBHOOK": f"{settings.actions_url}/webhook",
            "RELAY_TRACKER_URL": tracker_store_url(settings.database_url),
            # Rasa: no telemetry calls to a network we cannot reach
            "RASA_TELEMETRY_ENABLED": "false",
            "SANIC_HOST": settings.host,
        }
    )
    return env


def mail_service(settings: Settings, log_dir: Path) -> Service:
    """The development mail server (relay.devmail), for settings whose mail goes to it."""
    return Service("mail", [str(APP_PYTHON), "-m", "relay.devmail"],
                   f"tcp://{settings.host}:{settings.dev_mail_port}", log_dir / "mail.log")


def api_service(settings: Settings, log_dir: Path) -> Service:
    """The FastAPI app under uvicorn.

    X-Forwarded-For is trusted only from the proxies named in settings.forwarded_allow_ips:
    uvicorn's default trusts it from 127.0.0.1, so any local client could pick the address
    the login throttle counts failures for (issue 15, #8).
    """
    proxies = (["--proxy-headers", "--forwarded-allow-ips", settings.forwarded_allow_ips]
               if settings.forwarded_allow_ips else ["--no-proxy-headers"])
    return Service(
        "api",
        [str(APP_PYTHON), "-m", "uvicorn", "relay.app:create_app", "--factory",
         "--host", settings.host, "--port", str(settings.api_port), "--no-access-log",
         *proxies],
        f"{settings.api_url}/healthz",
        log_dir / "api.log",
    )


def services(settings: Settings, model: Path, log_dir: Path,
             endpoints: Path = ENDPOINTS) -> list[Service]:
    """The processes Relay runs, in start order (endpoints: Rasa's endpoints file)."""
    py = str(APP_PYTHON)
    listed = [
        api_service(settings, log_dir),
        Service(
            "actions",
            [py, "-m", "actions"],
            f"{settings.actions_url}/health",
            log_dir / "actions.log",
        ),
        Service(
            "rasa",
            [
                str(RASA_BIN),
                "run",
                "--model",
                str(model),
                "--endpoints",
                str(endpoints),
                "--credentials",
                "bot/credentials.yml",
                "--enable-api",
                "--auth-token",
                settings.rasa_token,
                "--interface",
                settings.host,
                "--port",
                str(settings.rasa_port),
            ],
            f"{settings.rasa_url}/status?token={settings.rasa_token}",
            log_dir / "rasa.log",
            env=RASA_ENV,
        ),
    ]
    if settings.dev_mail:
        listed.insert(0, mail_service(settings, log_dir))
    if settings.telegram_token:
        listed.append(
            Service(TELEGRAM.name, [py, "-m", "bot.channels.telegram"], "",
                    log_dir / "telegram.log")
        )
    return listed


class Stack:
    """Relay's processes as one unit: start them all, wait until each answers, restart one that
    crashes (alone), stop them all."""

    def __init__(self, settings: Settings, model: Path, *, env: Mapping[str, str] | None = None,
                 endpoints: Path = ENDPOINTS, listed: list[Service] | None = None):
        self.settings = settings
        self.log_dir = settings.data_dir / "logs"
        self.services = (listed if listed is not None
                         else services(settings, model, self.log_dir, endpoints))
        self.env = child_env(settings, env)

    def start(self, timeout: float = 240,
              check: Callable[[], None] | None = None) -> dict[str, float]:
        """Start every service; return seconds until each answered, or raise StackError.
        check: called between the checks for an answer; what it raises ends the wait."""
        for service in self.services:
            service.start(self.env)
        return self.wait(self.services, timeout, check)

    def wait(self, services: list[Service], timeout: float = 240,
             check: Callable[[], None] | None = None) -> dict[str, float]:
        """Seconds until each of services answered; StackError (all stopped) if one never did."""
        started = time.monotonic()
        ready: dict[str, float] = {}
        pending = list(services)
        while pending:
            if check is not None:
                check()
            for service in list(pending):
                code = service.exited()
                if code is not None:
                    self.stop()
                    raise StackError(
                        f"{service.name} exited with code {code} while starting; "
                        f"its log ({service.log_path}) ends with:\n{service.log_tail()}"
                    )
                if not service.ready_url or service.answers():
                    ready[service.name] = time.monotonic() - started
                    pending.remove(service)
            if pending and time.monotonic() - started > timeout:
                names = ", ".join(s.name for s in pending)
                tails = "\n".join(f"--- {s.name} ({s.log_path}):\n{s.log_tail()}" for s in pending)
                self.stop()
                raise StackError(f"{names} did not answer within {timeout:.0f} s\n{tails}")
            time.sleep(0.5)
        return ready

    def stop(self, timeout: float = 15) -> None:
        """Stop every service: all are told at once (SIGTERM, the last started first), and
        what is left after `timeout` seconds in all is killed. One after the other, services
        still loading their models took up to 20 s each."""
        for service in reversed(self.services):
            service.terminate()
        deadline = time.monotonic() + timeout
        for service in reversed(self.services):
            service.stop(timeout=max(0.0, deadline - time.monotonic()))

    def dead(self) -> list[Service]:
        """Services whose process has ended."""
        return [s for s in self.services if s.exited() is not None]

    def service(self, name: str) -> Service:
        """The service called name (KeyError if there is none)."""
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def heal(self, now: float | None = None) -> list[str]:
        """Restart each service that ended, alone, after its back-off; say what was done.

        The others keep running: a crashed action server does not take Rasa or the API down.
        A service that keeps crashing waits longer each time (RESTART_DELAYS); one that stayed
        up for STABLE_SECONDS starts again from the shortest delay.
        """
        now = time.monotonic() if now is None else now
        said = []
        for service in self.dead():
            if service.died_at is None:
                service.died_at = now
                if now - service.started_at >= STABLE_SECONDS:
                    service.restarts = 0
                delay = RESTART_DELAYS[min(service.restarts, len(RESTART_DELAYS) - 1)]
                said.append(f"{service.name} exited with code {service.exited()}; restarting it "
                            f"in {delay:.0f} s (see {service.log_path})")
                continue
            delay = RESTART_DELAYS[min(service.restarts, len(RESTART_DELAYS) - 1)]
            if now - service.died_at >= delay:
                service.restarts += 1
                service.start(self.env)
                said.append(f"{service.name} restarted (pid {service.pid})")
        return said


def port_is_free(host: str, port: int) -> bool:
    """True if nothing listens on host:port."""
    import socket

    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


def fail(message: str) -> None:
    """Print one actionable line and exit non-zero (no traceback)."""
    sys.stderr.write(f"relay: {message}\n")
    raise SystemExit(1)
