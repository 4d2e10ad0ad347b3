"""Fixtures for the channel tests: a migrated temp database, settings and a fake Rasa."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from relay.settings import Settings
from tests.channels.fake_rasa import FakeRasa, running_fake_rasa

AGENT_EMAIL = "agent@relay.test"
AGENT_PASSWORD = "correct-horse-battery"


@pytest.fixture
def fake_rasa(tmp_path: Path) -> Iterator[FakeRasa]:
    """A fake Rasa server on a free port, its tracker store in the test database."""
    with running_fake_rasa(database_url=f"sqlite:///{tmp_path / 'relay.db'}") as rasa:
        yield rasa


@pytest.fixture
def settings(tmp_path: Path, fake_rasa: FakeRasa) -> Settings:
    """Test settings pointing at a fresh, migrated SQLite database and the fake Rasa."""
    from crm_store.migrate import upgrade

    settings = Settings(
        env="test", data_dir=tmp_path, rasa_port=fake_rasa.port, embedding_model="unused",
        secret_key="unit-secret", service_token="unit-service", rasa_token=fake_rasa.token,
        telegram_token="123456:TEST-TOKEN-abcdefghijklmnop", telegram_webhook_secret="hook-secret",
    )
    upgrade(settings.database_url)
    return settings


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """A session factory on the test database, with one agent account."""
    from crm_store import users
    from crm_store.db import make_engine, make_session_factory

    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        users.create_user(session=session, email=AGENT_EMAIL, name="Alex Agent",
                          password=AGENT_PASSWORD, role="agent")
    yield factory
    engine.dispose()
