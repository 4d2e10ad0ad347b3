"""The Alembic migrations: they build the models' schema and leave Rasa's tables alone."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

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
        conn.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255))"))
        conn.execute(text("INSERT INTO events (id, sender_id) VALUES (1, 'web-1')"))
    assert _diff(engine) == []  # autogenerate would not propose dropping it
    upgrade(database_url)  # re-running is a no-op
    with engine.connect() as conn:
        assert conn.execute(text("SELECT sender_id FROM events")).scalar_one() == "web-1"


def test_downgrade_and_upgrade_again(engine: Engine, database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "base")
    assert not set(Base.metadata.tables) & set(inspect(engine).get_table_names())
    command.upgrade(config, "head")
    assert _diff(engine) == []
