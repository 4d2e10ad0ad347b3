"""Backup and restore (crm_store/backup.py): the CRM and Rasa's events come back as they were.

On a real SQLite file (online backup while a writer keeps writing) and on a real PostgreSQL
database (pg_dump / pg_restore).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from crm_store import backup, interactions
from crm_store.db import make_engine, make_session_factory, scratch_database
from crm_store.enums import Author, Direction
from crm_store.migrate import upgrade
from tests.conftest import postgres_server


def _fill(url: str) -> None:
    """The CRM's schema with one conversation, and Rasa's events table with its events."""
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine).begin() as session:
        interactions.record(session=session, conversation_id="web-" + "a" * 32,
                            direction=Direction.INBOUND, author=Author.CUSTOMER,
                            text="keep me", channel="web")
        session.execute(text("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, "
                             "sender_id VARCHAR(255), type_name VARCHAR(255), data TEXT)"))
        session.execute(text("INSERT INTO events (id, sender_id, type_name, data) VALUES "
                             "(1, :s, 'user', :d)"),
                        {"s": "web-" + "a" * 32, "d": '{"text": "keep me"}'})
    engine.dispose()


def _state(url: str) -> tuple[list[str], list[str]]:
    engine = make_engine(url)
    with engine.connect() as connection:
        messages = [r[0] for r in connection.execute(
            text("SELECT text FROM interactions ORDER BY id"))]
        events = [r[0] for r in connection.execute(text("SELECT data FROM events ORDER BY id"))]
    engine.dispose()
    return messages, events


def _damage(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM events"))
        connection.execute(text("UPDATE interactions SET text = 'lost'"))
    engine.dispose()


def test_sqlite_backup_while_writing_then_restore(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    _fill(url)
    original = _state(url)
    stop = threading.Event()

    def write() -> None:  # Relay keeps running during the backup
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            while not stop.is_set():
                interactions.record(session=session, conversation_id="web-" + "b" * 32,
                                    direction=Direction.INBOUND, author=Author.CUSTOMER,
                                    text="later", channel="web")
                session.commit()
        engine.dispose()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        saved = backup.dump(url=url, path=tmp_path / "backup" / "relay.sqlite")
    finally:
        stop.set()
        writer.join()
    _damage(url)
    assert _state(url) != original
    backup.restore(url=url, path=saved)
    messages, events = _state(url)
    assert messages[0] == "keep me" and set(messages[1:]) <= {"later"}
    assert events == original[1]


@pytest.fixture
def postgres_database() -> Iterator[str]:
    with scratch_database(postgres_server(), "relay_backup") as url:
        yield url


@pytest.mark.integration
def test_postgresql_dump_and_restore(postgres_database: str, tmp_path: Path) -> None:
    _fill(postgres_database)
    original = _state(postgres_database)
    saved = backup.dump(url=postgres_database, path=tmp_path / "relay.dump")
    _damage(postgres_database)
    backup.restore(url=postgres_database, path=saved)
    assert _state(postgres_database) == original
