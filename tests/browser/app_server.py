"""The Relay app (API, console, widget) served by uvicorn in a thread, on a fresh SQLite database
and the fake Rasa: for browser tests of pages whose subject is not the dialogue itself (the
console's live inbox, the widget's rendering). The dialogue's own browser tests use the real
stack (tests/browser/test_handoff_e2e.py)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from playwright.sync_api import Page
from sqlalchemy.orm import Session, sessionmaker

from crm_store import cases, conversations, customers, interactions, support, users
from crm_store.db import make_engine, make_session_factory
from crm_store.migrate import upgrade
from relay.app import create_app
from relay.settings import Settings
from tests.channels.fake_rasa import FakeRasa, running_fake_rasa
from tests.conftest import free_port

PASSWORD = "correct-horse-battery"
ALEX_EMAIL = "alex@relay.test"
ADMIN_EMAIL = "ada@relay.test"
AGENTS = {ALEX_EMAIL: "Alex Agent", "bea@relay.test": "Bea Backup", ADMIN_EMAIL: "Ada Admin"}


@dataclass
class AppServer:
    """A running app: its URL, settings, database and the fake Rasa behind it."""

    url: str
    settings: Settings
    sessions: sessionmaker[Session]
    rasa: FakeRasa

    def agent_id(self, email: str) -> int:
        """The user id of a test agent."""
        with self.sessions() as session:
            user = users.get_by_email(session=session, email=email)
            assert user is not None
            return user.id

    def handoff(self, *, text: str = "I need a human", customer: bool = False) -> str:
        """A web conversation waiting for a person (with a customer record if asked)."""
        cid = f"web-{uuid.uuid4().hex}"
        with self.sessions.begin() as session:
            customer_id = None
            if customer:
                row = customers.create(session=session, actor="test", name="Dana Ruiz",
                                       email=f"dana-{cid[-8:]}@example.com", type="customer",
                                       address="1 Wrong Street, Oldtown")
                customer_id = row.id
            interactions.record(session=session, conversation_id=cid, direction="inbound",
                                author="customer", text=text)
            if customer_id is not None:
                conversations.link_customer(session=session, actor="test", conversation_id=cid,
                                            customer_id=customer_id)
            case = cases.open_case(session=session, actor="test", subject="Handoff: person",
                                   type="handoff", conversation_id=cid, customer_id=customer_id)
            support.set_status(session=session, conversation_id=cid, status="handoff",
                               reason="asked for a person", case_id=case.id, actor="service:test")
        return cid

    def customer_says(self, cid: str, text: str) -> None:
        """A customer's message logged as Rasa's broker would log it."""
        with self.sessions.begin() as session:
            interactions.record(session=session, conversation_id=cid, direction="inbound",
                                author="customer", text=text)


@contextmanager
def running_app(data_dir: Path) -> Iterator[AppServer]:
    """Serve the whole app on a free port for the duration of the block."""
    with running_fake_rasa() as rasa:
        settings = Settings(env="test", data_dir=data_dir, rasa_port=rasa.port,
                            rasa_token=rasa.token, secret_key="browser-secret",
                            service_token="browser-service", embedding_model="unused",
                            index_dir=data_dir / "no-index")
        upgrade(settings.database_url)
        engine = make_engine(settings.database_url)
        sessions = make_session_factory(engine)
        with sessions.begin() as session:
            for email, name in AGENTS.items():
                users.create_user(session=session, email=email, name=name, password=PASSWORD,
                                  role="admin" if email == ADMIN_EMAIL else "agent")
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the app did not start within 30 s")
            time.sleep(0.1)
        try:
            yield AppServer(url, settings, sessions, rasa)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            engine.dispose()


def log_in(page: Page, app: AppServer, email: str) -> None:
    """Log a test agent into the console."""
    page.goto(f"{app.url}/console/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{app.url}/console/")
