"""Writing Rasa's tracker store the way Rasa does, for tests that stand in for Rasa.

Rasa's SQL tracker store commits each turn's events to the table `events` (id, sender_id,
type_name, timestamp, data as JSON); crm_store.events reads them from there.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Engine

from crm_store.tracker import TRACKER_EVENTS


def add_events(engine: Engine, sender_id: str, events: list[dict[str, Any]],
               *, ids: list[int] | None = None) -> list[int]:
    """Commit events of one conversation in one transaction (creating the table if needed);
    their ids. `ids` forces the ids (a late commit of a lower id, as on PostgreSQL)."""
    TRACKER_EVENTS.create(engine, checkfirst=True)
    stored = []
    with engine.begin() as connection:
        for index, event in enumerate(events):
            event = {"timestamp": time.time(), **event}
            values: dict[str, Any] = {
                "sender_id": sender_id, "type_name": event["event"],
                "timestamp": event["timestamp"],
                "data": event.pop("_raw", None) or json.dumps(event)}
            if ids is not None:
                values["id"] = ids[index]
            result = connection.execute(TRACKER_EVENTS.insert().values(**values))
            stored.append(int(result.inserted_primary_key[0]))
    return stored
