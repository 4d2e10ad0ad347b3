"""Rasa's tracker store, read only: its events table lives in the CRM's database.

Rasa (rasa.core.tracker_store.SQLTrackerStore) creates and writes the table `events`; the CRM
reads it to log the turns (crm_store.events) and to know which conversations Rasa has paused
(crm_store.support reconciles that with the CRM's status). It is not in the CRM's metadata, so
migrations leave it alone.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, inspect, select
from sqlalchemy.orm import Session

# The columns of rasa.core.tracker_store.SQLTrackerStore.SQLEvent that the CRM reads.
TRACKER_EVENTS = Table(
    "events", MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("data", Text),
)


def tracker_store_ready(session: Session) -> bool:
    """Whether Rasa has created its events table in this database yet."""
    return "events" in inspect(session.get_bind()).get_table_names()


def rasa_paused(*, session: Session, conversation_ids: list[str]) -> dict[str, bool]:
    """Whether Rasa has each conversation paused (its last pause or resume event), for those
    with either; conversations never paused are left out."""
    if not conversation_ids or not tracker_store_ready(session):
        return {}
    table = TRACKER_EVENTS.c
    latest = (select(table.sender_id, table.type_name, table.id)
              .where(table.sender_id.in_(conversation_ids),
                     table.type_name.in_(("pause", "resume")))
              .order_by(table.sender_id, table.id))
    state: dict[str, bool] = {}
    for sender_id, type_name, _ in session.execute(latest).all():
        state[sender_id] = type_name == "pause"
    return state
