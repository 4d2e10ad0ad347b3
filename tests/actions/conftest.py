"""Action test fixtures: a real migrated SQLite CRM, the domain, trackers as Rasa sends them."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from sqlalchemy.orm import Session, sessionmaker

from actions import runtime
from crm_store.db import make_engine, make_session_factory
from crm_store.migrate import upgrade
from knowledge.runtime.languages import LanguageDetector
from relay import languages, responses
from relay.settings import ROOT, Settings


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once with the crm_store Alembic migrations; tests copy it."""
    path = tmp_path_factory.mktemp("crm-template") / "crm.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def detector() -> LanguageDetector:
    """The action server's language detector (lingua, the six languages)."""
    return LanguageDetector(languages.CODES, languages.DEFAULT)


@pytest.fixture
def sessions(
    migrated_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    detector: LanguageDetector,
) -> Iterator[sessionmaker[Session]]:
    """A fresh migrated database installed as the action server's services for this test."""
    path = tmp_path / "crm.db"
    shutil.copy(migrated_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    factory = make_session_factory(engine)
    settings = Settings(data_dir=tmp_path, database_url=url)
    # The FAQ engines are not needed by these actions; loading them would cost seconds per test.
    monkeypatch.setattr(runtime, "_services",
                        runtime.Services(settings=settings, sessions=factory, faq=None,  # type: ignore[arg-type]
                                         languages=detector))
    yield factory
    engine.dispose()


@pytest.fixture(scope="session")
def faq() -> Any:
    """Both FAQ engines on the indexes `make test` builds (English MiniLM, multilingual e5)."""
    from knowledge.runtime.multilingual import MultilingualFaq

    settings = Settings(index_dir=ROOT / "var" / "index", models_dir=ROOT / "var" / "models")
    if not all((index / "manifest.json").exists() for _, index in settings.indexes()):
        pytest.skip("no FAQ indexes: run `python -m knowledge.build`")
    return MultilingualFaq.from_settings(settings)


@pytest.fixture
def faq_engine(faq: Any) -> Any:
    """The English engine."""
    return faq.english


@pytest.fixture
def faq_services(
    sessions: sessionmaker[Session], faq: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = runtime.services()
    monkeypatch.setattr(
        runtime,
        "_services",
        runtime.Services(settings=current.settings, sessions=sessions, faq=faq,
                         languages=current.languages),
    )


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """The bot's domain.yml as the action server receives it."""
    return dict(yaml.safe_load((ROOT / "domain.yml").read_text()))


def tracker(
    *,
    sender_id: str = "rest-test",
    slots: dict[str, Any] | None = None,
    text: str = "",
    intent: str = "inform",
    metadata: dict[str, Any] | None = None,
    before: list[dict[str, Any]] | None = None,
    confidence: float = 0.9,
) -> Tracker:
    """A tracker right after the customer said `text`, with the given slots; `before`: the
    events of the conversation until then."""
    latest = {"text": text, "intent": {"name": intent, "confidence": confidence},
              "entities": [], "metadata": metadata or {}}
    return Tracker.from_dict({
        "sender_id": sender_id,
        "slots": dict(slots or {}),
        "latest_message": latest,
        "events": [*(before or []), {"event": "user", "text": text, "parse_data": latest}],
        "active_loop": {},
        "latest_action_name": "action_listen",
    })


def form_tracker(
    form: str, slot: str, value: Any, *, slots: dict[str, Any] | None = None,
    sender_id: str = "rest-test",
) -> Tracker:
    """What a form's validation action receives: `slot` just extracted from the customer's text."""
    current = {**(slots or {}), slot: value, "requested_slot": slot}
    latest = {"text": str(value), "intent": {"name": "inform", "confidence": 0.9},
              "entities": [], "metadata": {}}
    return Tracker.from_dict({
        "sender_id": sender_id,
        "slots": current,
        "latest_message": latest,
        "events": [
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": str(value), "parse_data": latest},
            {"event": "action", "name": form},
            {"event": "slot", "name": slot, "value": value},
        ],
        "active_loop": {"name": form},
        "latest_action_name": form,
    })


def texts(dispatcher: Any, tracker: Tracker | None = None) -> list[str]:
    """The texts the action sent; a domain response as Rasa would say it to that tracker (in
    its language, filled from the values the action passed, then from its slots)."""
    slots = dict(tracker.slots) if tracker is not None else {}
    out = []
    for message in dispatcher.messages:
        if message.get("response"):
            values = {**slots, **{k: v for k, v in message.items() if v is not None}}
            out.append(responses.text(message["response"], slots.get("language"), **values))
        else:
            out.append(message["text"])
    return out


def verify(sessions: sessionmaker[Session], conversation_id: str, customer_id: int) -> None:
    """Record in the CRM that the conversation proved to be this customer (a code matched)."""
    from crm_store import verification

    with sessions.begin() as session:
        verification.mark_verified(session=session, conversation_id=conversation_id,
                                   customer_id=customer_id, method=verification.EMAIL_CODE,
                                   actor="test")


def said(dispatcher: Any) -> list[str]:
    """What the action sent: each message's text, or the name of the response it uttered."""
    return [message.get("text") or message["response"] for message in dispatcher.messages]


@pytest.fixture
def mailbox(sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[Path]:
    """A real SMTP server (aiosmtpd, relay.devmail's handler) that the actions mail to; yields
    the directory its mails land in."""
    from aiosmtpd.controller import Controller

    from relay.devmail import MaildirHandler
    from tests.conftest import free_port

    directory = tmp_path / "mail"
    port = free_port()
    controller = Controller(MaildirHandler(directory), hostname="127.0.0.1", port=port)
    controller.start()
    current = runtime.services()
    settings = current.settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port,
                                                   "smtp_starttls": False})
    monkeypatch.setattr(runtime, "_services", dataclasses.replace(current, settings=settings))
    try:
        yield directory
    finally:
        controller.stop()
