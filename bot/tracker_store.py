"""Rasa's SQL tracker store, without reloading a conversation three times per turn.

Loaded by Rasa (inside .venv-rasa) from bot/endpoints.yml, so it imports nothing from the app.
Rasa's `SQLTrackerStore` reads a conversation's events from the database three times in every
turn (the gateway channel's check, `get_tracker`, and again in `save` to find which events are
new, plus a COUNT), and turns every row back into an Event through `json.loads` and a class
lookup by reflection. Measured on a FAQ turn, that was a third of Rasa's CPU.

This store keeps, per conversation, the events of its current session as Event objects and the
id of its last row. A retrieve asks the database one indexed question (`max(id)` of the
conversation's rows): if it is the id kept, the tracker is rebuilt from the kept events;
otherwise (another Rasa replica handled a turn, or a row was deleted) the session is read again
as Rasa would. `save` writes only the events after the ones kept, and publishes exactly those
to the event broker, as Rasa's `stream_events` does. Rasa's lock store serialises the turns of a
conversation, so between a retrieve and its save no other writer adds rows for it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm
import sqlalchemy.pool
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted, deserialise_events
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

logger = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 4096  # conversations whose session is kept in memory (least recent out)


_LAST_ID = sa.text("SELECT max(id) FROM events WHERE sender_id = :sender_id")


def _sqlite_normal_sync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


@dataclass
class _Kept:
    """A conversation's current session as stored: its events and the id of its last row."""

    last_id: int | None
    events: list[Event]


class RelayTrackerStore(SQLTrackerStore):  # type: ignore[misc]
    """SQLTrackerStore with the current session of recent conversations kept in memory."""

    def __init__(self, *args: Any, cache_size: int = DEFAULT_CACHE_SIZE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache_size = int(cache_size)
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._in_turn: dict[str, bool] = {}  # conversations in a turn: checked yet?
        engine: Any = self.engine  # type: ignore[has-type]  # set by Rasa's __init__
        if engine.dialect.name == "sqlite":
            # Rasa opens SQLite without a pool (a new connection per query: a sixth of a turn)
            # and with synchronous=FULL (an fsync per commit); the CRM's connections use WAL
            # with synchronous=NORMAL (crm_store/db.py). Rasa runs on one event-loop thread.
            url = engine.url
            engine.dispose()
            self.engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=2,
                                           connect_args={"check_same_thread": False})
            sa.event.listen(self.engine, "connect", _sqlite_normal_sync)
            self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)

    def _keep(self, sender_id: str, kept: _Kept) -> None:
        self._kept[sender_id] = kept
        self._kept.move_to_end(sender_id)
        while len(self._kept) > self.cache_size:
            self._kept.popitem(last=False)

    @contextlib.contextmanager
    def turn(self, sender_id: str) -> Iterator[None]:
        """A turn of the conversation, run by a caller that holds its lock.

        Nobody else writes the conversation's rows meanwhile, so the kept session is checked
        against the database once in the turn, not at every load.
        """
        self._in_turn[sender_id] = False
        try:
            yield
        finally:
            self._in_turn.pop(sender_id, None)

    def _current(self, sender_id: str) -> _Kept:
        """The conversation's current session as the database has it (memory if still true)."""
        kept = self._kept.get(sender_id)
        if kept is not None and self._in_turn.get(sender_id):
            return kept  # checked already in this turn
        with self.engine.connect() as connection:
            last_id = connection.execute(_LAST_ID, {"sender_id": sender_id}).scalar()
        if sender_id in self._in_turn:
            self._in_turn[sender_id] = True
        if kept is not None and kept.last_id == last_id:
            self._kept.move_to_end(sender_id)
            return kept
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
            events = deserialise_events([json.loads(row.data) for row in rows])
            kept = _Kept(last_id=rows[-1].id if rows else last_id, events=events)
        self._keep(sender_id, kept)
        return kept

    def current_events(self, sender_id: str) -> list[Event]:
        """The events of the conversation's latest session, without building a tracker."""
        return list(self._current(sender_id).events)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The tracker of the conversation's latest session, or None if it has no events."""
        kept = self._current(sender_id)
        if not kept.events or not self.domain:
            return None
        return DialogueStateTracker.from_events(sender_id, list(kept.events), self.domain.slots)

    def _stored_count(self, tracker: DialogueStateTracker) -> int:
        """How many of the tracker's events are already in the database."""
        kept = self._kept.get(tracker.sender_id)
        if kept is not None and len(kept.events) <= len(tracker.events):
            return len(kept.events)
        with self.session_scope() as session:  # not kept: ask, as Rasa does
            return int(self._event_query(session, tracker.sender_id,
                                         fetch_events_from_all_sessions=False).count())

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Write the tracker's new events and publish them to the event broker."""
        sender_id = tracker.sender_id
        new = list(itertools.islice(tracker.events, self._stored_count(tracker), None))
        if not new:
            return
        dumped = [event.as_dict() for event in new]
        if self.event_broker is not None:
            for data in dumped:
                self.event_broker.publish({"sender_id": sender_id, **data})
        rows = [
            {
                "sender_id": sender_id,
                "type_name": event.type_name,
                "timestamp": data.get("timestamp"),
                "intent_name": (data.get("parse_data") or {}).get("intent", {}).get(
                    INTENT_NAME_KEY),
                "action_name": data.get("name"),
                "data": json.dumps(data),
            }
            for event, data in zip(new, dumped, strict=True)
        ]
        # One executemany of plain rows, not ORM objects flushed one by one (the unit of work
        # was most of this method's time). The caller holds the conversation's lock, so the
        # highest id of its rows afterwards is the last one written here.
        with self.engine.begin() as connection:
            connection.execute(self.SQLEvent.__table__.insert(), rows)
            last_id = connection.execute(_LAST_ID, {"sender_id": sender_id}).scalar()
        kept = self._kept.get(sender_id)
        if kept is None or any(isinstance(event, SessionStarted) for event in new):
            # A new session begins in these events: the next retrieve reads it from the rows.
            self._kept.pop(sender_id, None)
        else:
            kept.events.extend(new)
            kept.last_id = last_id
        logger.debug("tracker %s: %d events stored", sender_id, len(new))

    def forget(self, sender_id: str) -> None:
        """Drop what is kept of a conversation (its rows were changed behind the store's back)."""
        self._kept.pop(sender_id, None)
