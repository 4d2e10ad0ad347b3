"""On SQLite, Rasa's tracker store never reuses an event id: `events` gets AUTOINCREMENT.

The CRM reads Rasa's `events` table in id order behind a cursor (crm_store.events). Rasa
declares its id a plain INTEGER PRIMARY KEY, and SQLite then gives a new row max(id) + 1: once
an erasure or the retention purge has deleted the newest rows, the next events take ids the
cursor has already passed, and those turns never reach the CRM (found by
tests/crm_store/test_privacy.py: a visitor's "hi" right after an erasure was never logged).
With AUTOINCREMENT SQLite never hands out an id twice. PostgreSQL's sequence already does not.

The table is created here, before Rasa first starts, with Rasa's own columns and index
(rasa.core.tracker_store.SQLTrackerStore.SQLEvent; Rasa's create_all leaves an existing table
alone), or rebuilt with its rows if Rasa created it already. Downgrading keeps it: AUTOINCREMENT
changes nothing for Rasa.

Revision ID: c4e8a1f0b6d3
Revises: fbd1dd607200
Create Date: 2026-12-03 09:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c4e8a1f0b6d3'
down_revision: str | None = 'fbd1dd607200'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = """
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    sender_id VARCHAR(255) NOT NULL,
    type_name VARCHAR(255) NOT NULL,
    timestamp FLOAT,
    intent_name VARCHAR(255),
    action_name VARCHAR(255),
    data TEXT
"""
INDEX = "CREATE INDEX ix_events_sender_id ON events (sender_id)"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    existing = bind.execute(sa.text(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'")).scalar()
    if existing is None:
        op.execute(f"CREATE TABLE events ({COLUMNS})")
        op.execute(INDEX)
        return
    if "AUTOINCREMENT" in existing.upper():
        return
    # Copying the rows with their ids sets sqlite_sequence to the highest one.
    op.execute(f"CREATE TABLE events_autoincrement ({COLUMNS})")
    op.execute("INSERT INTO events_autoincrement (id, sender_id, type_name, timestamp, "
               "intent_name, action_name, data) SELECT id, sender_id, type_name, timestamp, "
               "intent_name, action_name, data FROM events")
    op.execute("DROP TABLE events")
    op.execute("ALTER TABLE events_autoincrement RENAME TO events")
    op.execute(INDEX)


def downgrade() -> None:
    pass
