"""The Alembic migrations: they build the models' schema and leave Rasa's tables alone."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from crm_store.db import make_engine
from crm_store.migrate import alembic_config, include_object, upgrade
from crm_store.models import Base


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True}
        )
        return list(compare_metadata(context, Base.metadata))


def test_head_matches_the_models(engine: Engine) -> None:
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    assert _diff(engine) == []


def test_rasa_events_table_is_ignored(engine: Engine, database_url: str) -> None:
    with engine.begin() as conn:
        if "events" not in inspect(conn).get_table_names():  # PostgreSQL: Rasa creates it
            conn.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY, "
                              "sender_id VARCHAR(255), type_name VARCHAR(255))"))
        conn.execute(text("INSERT INTO events (id, sender_id, type_name) "
                          "VALUES (1, 'web-1', 'user')"))
    assert _diff(engine) == []  # autogenerate would not propose dropping it
    upgrade(database_url)  # re-running is a no-op
    with engine.connect() as conn:
        assert conn.execute(text("SELECT sender_id FROM events")).scalar_one() == "web-1"


def _next_id_after_deleting_the_newest(engine: Engine) -> tuple[int, int]:
    """Insert two events, delete the newer, insert one more: (deleted id, new id)."""
    with engine.begin() as conn:
        for sender in ("web-a", "web-b"):
            conn.execute(text("INSERT INTO events (sender_id, type_name, data) "
                              "VALUES (:s, 'user', '{}')"), {"s": sender})
        newest = conn.execute(text("SELECT max(id) FROM events")).scalar_one()
        conn.execute(text("DELETE FROM events WHERE id = :i"), {"i": newest})
        conn.execute(text("INSERT INTO events (sender_id, type_name, data) "
                          "VALUES ('web-c', 'user', '{}')"))
        return newest, conn.execute(text("SELECT max(id) FROM events")).scalar_one()


def test_sqlite_never_reuses_an_event_id_after_an_erasure(tmp_path: Path) -> None:
    """The CRM reads Rasa's events behind a cursor: an id handed out twice (SQLite's default
    after the newest rows are deleted, e.g. by an erasure) would be skipped, its turn lost."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)  # before Rasa starts: the migration creates the table the way Rasa would
    fresh = make_engine(url)
    deleted, new = _next_id_after_deleting_the_newest(fresh)
    assert new > deleted
    assert "ix_events_sender_id" in {i["name"] for i in inspect(fresh).get_indexes("events")}
    fresh.dispose()

    # A database where Rasa created its table first: rebuilt with every row and id kept.
    url = f"sqlite:///{tmp_path / 'rasa-first.db'}"
    command.upgrade(alembic_config(url), "fbd1dd607200")
    older = make_engine(url)
    with older.begin() as conn:
        conn.execute(text("CREATE TABLE events (id INTEGER NOT NULL PRIMARY KEY, "
                          "sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL, "
                          "timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), "
                          "data TEXT)"))
        conn.execute(text("INSERT INTO events (id, sender_id, type_name, data) "
                          "VALUES (7, 'web-old', 'user', '{\"text\": \"hi\"}')"))
    upgrade(url)
    with older.connect() as conn:
        assert conn.execute(text("SELECT id, sender_id, data FROM events")).all() == [
            (7, "web-old", '{"text": "hi"}')]
    deleted, new = _next_id_after_deleting_the_newest(older)
    assert new > deleted > 7
    older.dispose()


def test_downgrade_and_upgrade_again(engine: Engine, database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "base")
    assert not set(Base.metadata.tables) & set(inspect(engine).get_table_names())
    command.upgrade(config, "head")
    assert _diff(engine) == []


def test_the_handoff_case_migration_links_cases_and_its_downgrade_keeps_every_row(
    engine: Engine, database_url: str
) -> None:
    """564df016a613 links a waiting conversation to its latest open handoff case; undoing it
    must not take interactions or case links with it (rebuilding `conversations`, as alembic's
    SQLite batch mode does, would cascade to its interactions)."""
    config = alembic_config(database_url)
    command.downgrade(config, "e5bfee2b7f7c")
    rows = [
        "INSERT INTO conversations (id, channel, status, created_at) VALUES "
        "('web-1', 'web', 'agent', CURRENT_TIMESTAMP), ('web-2', 'web', 'bot', CURRENT_TIMESTAMP)",
        "INSERT INTO interactions (conversation_id, channel, direction, author, text, note, "
        "created_at) VALUES ('web-1', 'web', 'inbound', 'customer', 'hi', false, "
        "CURRENT_TIMESTAMP)",
        "INSERT INTO cases (id, conversation_id, subject, description, type, priority, status, "
        "created_at, updated_at) VALUES "
        "(1, 'web-1', 'Sync broken', '', 'problem', 'normal', 'open', CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP), "
        "(2, 'web-1', 'Handoff', '', 'handoff', 'normal', 'open', CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP), "
        "(3, 'web-2', 'Handoff', '', 'handoff', 'normal', 'resolved', CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP)",
    ]
    with engine.begin() as conn:
        for statement in rows:
            conn.execute(text(statement))
    command.upgrade(config, "head")

    def state() -> tuple[object, ...]:
        with engine.connect() as conn:
            return (
                conn.execute(text("SELECT count(*) FROM interactions")).scalar_one(),
                conn.execute(text("SELECT conversation_id FROM cases ORDER BY id")).all(),
            )

    with engine.connect() as conn:
        links = conn.execute(text("SELECT id, handoff_case_id FROM conversations ORDER BY id"))
        assert links.all() == [("web-1", 2), ("web-2", None)]
    assert state() == (1, [("web-1",), ("web-1",), ("web-2",)])
    command.downgrade(config, "e5bfee2b7f7c")
    assert state() == (1, [("web-1",), ("web-1",), ("web-2",)])
    command.upgrade(config, "head")
    assert _diff(engine) == []
