"""Shared fixtures: `relay_stack` runs the real Relay processes for integration tests.

The stack includes the development mail server (relay.devmail, a real aiosmtpd process), so
tests read the verification codes Relay mails to customers from the real mail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from relay.settings import ROOT, Settings
from relay.stack import Stack, child_env

# Set by .ci/run: there, a missing PostgreSQL, Redis or HAProxy fails the tests that need it
# instead of skipping them quietly.
REQUIRE_SERVICES = "RELAY_TEST_REQUIRE_SERVICES"


def missing_service(reason: str) -> NoReturn:
    """Skip the test for want of a service, or fail it where every service must be there (CI)."""
    if os.environ.get(REQUIRE_SERVICES):
        pytest.fail(f"{reason} — and {REQUIRE_SERVICES} is set (CI needs every service)")
    pytest.skip(reason)


def postgres_server() -> str:
    """RELAY_TEST_POSTGRES_URL (relay.testrun sets it), or the test is skipped (failed on CI)."""
    base = os.environ.get("RELAY_TEST_POSTGRES_URL")
    if not base:
        missing_service("RELAY_TEST_POSTGRES_URL not set: no PostgreSQL server for the tests")
    return base


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RelayStack:
    """Handle on a running Relay: its settings, URLs, a session factory on its database and
    its processes (stack: e.g. kill one and start it again)."""

    settings: Settings
    sessions: sessionmaker[Session]
    stack: Stack

    @property
    def api_url(self) -> str:
        return self.settings.api_url

    @property
    def rasa_url(self) -> str:
        return self.settings.rasa_url

    def say(self, sender: str, text: str, **metadata: Any) -> list[dict[str, Any]]:
        """Send one message over Rasa's gateway channel and return the bot's replies."""
        response = httpx.post(
            f"{self.rasa_url}/webhooks/relay/webhook",
            json={"sender": sender, "message": text, "metadata": metadata},
            headers={"Authorization": f"Bearer {self.settings.rasa_token}"},
            timeout=60,
        )
        response.raise_for_status()
        return list(response.json())

    def code_for(self, email: str, *, after: int = 0, timeout: float = 30) -> str:
        """The verification code in the latest mail to email, read from what the real
        development mail server received; waits for the mail number `after` + 1."""
        from relay.devmail import read_mails
        from relay.mail import code_in

        def arrived() -> list[str]:
            mails = [m.body for m in read_mails(self.settings.mail_dir) if m.to == email]
            return mails if len(mails) > after else []

        body = self.wait_for(arrived, timeout, f"mail number {after + 1} to {email}")[-1]
        code = code_in(body)
        assert code, body
        return code

    def mails_to(self, email: str) -> int:
        """How many mails the development mail server received for email."""
        from relay.devmail import read_mails

        return sum(1 for m in read_mails(self.settings.mail_dir) if m.to == email)

    def signed(self, user_id: str) -> str:
        """The user_hash the website's backend would put in the page for user_id."""
        from crm_store.verification import identity_hash

        return identity_hash(self.settings.identity_secret, user_id)

    def wait_for(self, condition: Callable[[], Any], timeout: float = 20, what: str = "") -> Any:
        """Poll `condition` until it returns something truthy; fail the test after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what or condition}")
            time.sleep(0.2)


def rasa_channel_constant(name: str) -> Any:
    """A constant of bot/rasa_channel.py, read from its source: it imports Rasa, which runs in
    .venv-rasa, not in the tests' environment."""
    import ast

    tree = ast.parse((ROOT / "bot" / "rasa_channel.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(name)


def new_conversation_id(prefix: str = "rest") -> str:
    """A fresh conversation id, so tests never share a tracker."""
    return f"{prefix}-{uuid.uuid4().hex}"


@contextmanager
def _running_stack(data_dir: Path, database_url: str = "", **overrides: Any
                   ) -> Iterator[RelayStack]:
    """Migrate and seed the database, start every Relay process, stop them afterwards.

    overrides: other Settings fields (e.g. a private copy of the FAQ and its index, a short
    hold for messages while Rasa is down).
    """
    from crm_store.db import make_engine, make_session_factory
    from crm_store.migrate import upgrade
    from relay.train import ensure_model

    settings = Settings(
        env="test",
        data_dir=data_dir,
        database_url=database_url,
        host="127.0.0.1",
        rasa_port=free_port(),
        actions_port=free_port(),
        api_port=free_port(),
        dev_mail_port=free_port(),  # the stack's own development mail server (relay.devmail)
        secret_key="test-secret-key",
        service_token="test-service-token",
        rasa_token="test-rasa-token",
        **{"index_dir": ROOT / "var" / "index", "models_dir": ROOT / "var" / "models",
           **overrides},
    )
    if not all((index / "manifest.json").exists() for _, index in settings.indexes()):
        built = subprocess.run([sys.executable, "-m", "knowledge.build"], cwd=ROOT, check=False)
        assert built.returncode == 0, "could not build the FAQ indexes"
    upgrade(settings.database_url)
    seeded = subprocess.run(
        [sys.executable, "-m", "crm_store.seed"],
        cwd=ROOT,
        env=child_env(settings),
        capture_output=True,
        text=True,
    )
    assert seeded.returncode == 0, seeded.stderr
    stack = Stack(settings, ensure_model(quiet=True), env=os.environ)
    stack.start()
    engine = make_engine(settings.database_url)
    try:
        yield RelayStack(settings=settings, sessions=make_session_factory(engine), stack=stack)
    finally:
        stack.stop()
        engine.dispose()


@pytest.fixture(scope="session")
def relay_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayStack]:
    """Rasa, the action server and the API on free ports with a fresh, migrated SQLite database."""
    with _running_stack(tmp_path_factory.mktemp("relay-stack")) as stack:
        yield stack


@pytest.fixture(scope="session")
def relay_stack_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayStack]:
    """The same stack on a fresh PostgreSQL database (Rasa's tracker store included)."""
    from crm_store.db import scratch_database

    with scratch_database(postgres_server(), "relay_stack") as url, \
            _running_stack(tmp_path_factory.mktemp("relay-stack-pg"), url) as stack:
        yield stack


@pytest.fixture(params=["sqlite", "postgresql"])
def any_stack(request: pytest.FixtureRequest) -> RelayStack:
    """The running stack on each database: tests using it run on SQLite and on PostgreSQL."""
    name = "relay_stack" if request.param == "sqlite" else "relay_stack_postgres"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free port (lock store, counters)."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing_service("redis-server is not installed (scripts/system-deps.sh installs it)")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no",
                                "--dir", str(tmp_path_factory.mktemp("redis"))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)
