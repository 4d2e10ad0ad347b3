"""Rasa's events reach the CRM from Rasa's own tracker store: the durable event path.

Rasa's SQL tracker store commits each turn's events to its table `events`, in the CRM's
database, before it answers the turn. That table is the outbox: the CRM reads it in id order
and applies each event (crm_store.ingest) in the same transaction that moves its cursor
(`event_cursors`), so an event is applied exactly once whichever process reads it, and nothing
Rasa committed can be lost between the two — a crashed or restarting API only delays it.
docs/durability.md has the measurements behind this choice (against an HTTP broker, Rasa's SQL
event broker and a Redis stream).

* A batch is applied in one transaction; if any event in it fails, the batch is rolled back
  and re-applied one event per transaction, and the failing event alone goes to
  `event_quarantine` with its error (`retry_quarantined` applies it again later).
* On PostgreSQL ids are taken before commit, so an event can appear after a higher one was
  read. Ids skipped when the cursor passed them are kept as holes and read when they appear;
  a hole still empty after HOLE_SECONDS was a rolled-back or lost insert and is forgotten.
* Readers take the cursor row's lock first (PostgreSQL row lock, SQLite write lock), so any
  number of processes may call consume(): the API follows continuously, the Telegram bridge
  reads right after a turn to send its replies sooner.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import (
    DisconnectionError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from crm_store import audit, ingest
from crm_store.db import insert_unless_exists
from crm_store.models import EventCursor, QuarantinedEvent, utcnow
from crm_store.tracker import TRACKER_EVENTS, tracker_store_ready

log = logging.getLogger(__name__)

CURSOR = "crm"
BATCH = 500
HOLE_SECONDS = 60.0
MAX_HOLES = 10_000
RASA_EVENTS = audit.service_actor("rasa")  # the actor of status changes from Rasa's events
FOLLOW_SECONDS = 0.2


@dataclass(frozen=True)
class TrackerEvent:
    """One row of Rasa's events table."""

    id: int
    sender_id: str
    type_name: str
    data: str

    def as_event(self) -> dict[str, Any]:
        """The event as Rasa's broker would publish it (sender_id added); ValueError if bad."""
        event = json.loads(self.data)
        if not isinstance(event, dict):
            raise ValueError("the event is not a JSON object")
        return {**event, "sender_id": self.sender_id}


@dataclass
class Consumed:
    """What one call of consume() did."""

    applied: int = 0
    quarantined: int = 0
    position: int = 0

    @property
    def read(self) -> int:
        """Events taken from the tracker store (applied or quarantined)."""
        return self.applied + self.quarantined


def _lock_cursor(session: Session, name: str) -> EventCursor:
    """The cursor row, locked for this transaction (the first statement takes the lock)."""
    # An UPDATE first: on SQLite it takes the write lock before this transaction reads
    # anything (a read first would fail with BUSY_SNAPSHOT once another reader committed), on
    # PostgreSQL it locks the row until commit.
    for _ in range(2):
        locked = session.execute(update(EventCursor).where(EventCursor.name == name)
                                 .values(updated_at=utcnow()))
        if locked.rowcount:  # type: ignore[attr-defined]
            return session.get_one(EventCursor, name, populate_existing=True)
        insert_unless_exists(session, EventCursor, {"name": name, "position": 0, "holes": {},
                                                    "updated_at": utcnow()}, ["name"])
    raise RuntimeError(f"event cursor {name!r} could not be locked")


def advance(position: int, holes: dict[str, float], event_id: int,
            now: float) -> tuple[int, dict[str, float]]:
    """The cursor after event_id was read: ids it skipped become holes, a filled hole goes."""
    holes = dict(holes)
    if holes.pop(str(event_id), None) is None and event_id > position:
        for missing in range(position + 1, event_id):
            holes[str(missing)] = now
        position = event_id
    if len(holes) > MAX_HOLES:
        for key in sorted(holes, key=int)[: len(holes) - MAX_HOLES]:
            del holes[key]
    return position, holes


def _expire(holes: dict[str, float], now: float) -> dict[str, float]:
    return {key: seen for key, seen in holes.items() if now - seen < HOLE_SECONDS}


def _pending(session: Session, cursor: EventCursor, limit: int) -> list[TrackerEvent]:
    table = TRACKER_EVENTS.c
    condition = table.id > cursor.position
    if cursor.holes:
        condition = or_(condition, table.id.in_([int(key) for key in cursor.holes]))
    rows = session.execute(select(table.id, table.sender_id, table.type_name, table.data)
                           .where(condition).order_by(table.id).limit(limit)).all()
    return [TrackerEvent(r.id, r.sender_id or "", r.type_name or "", r.data or "") for r in rows]


class _Turns:
    """For each conversation, whether its current turn is answered in the gateway's response."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.in_turn: dict[str, bool] = {}

    def seen(self, row: TrackerEvent, event: dict[str, Any]) -> bool:
        """in_turn for this event (a user event starts a turn)."""
        if row.type_name == "user":
            self.in_turn[row.sender_id] = ingest.answered_in_turn(event)
        elif row.sender_id not in self.in_turn:
            self.in_turn[row.sender_id] = ingest.answered_in_turn(self._user_before(row))
        return self.in_turn[row.sender_id]

    def _user_before(self, row: TrackerEvent) -> dict[str, Any] | None:
        table = TRACKER_EVENTS.c
        data = self.session.scalar(
            select(table.data).where(table.sender_id == row.sender_id, table.type_name == "user",
                                     table.id < row.id).order_by(table.id.desc()).limit(1))
        try:
            event = json.loads(data) if data else None
        except ValueError:
            return None
        return event if isinstance(event, dict) else None


def _apply(session: Session, rows: list[TrackerEvent], actor: str) -> None:
    turns = _Turns(session)
    for row in rows:
        if row.type_name not in ingest.HANDLED_EVENTS:
            continue
        event = row.as_event()
        ingest.apply_event(session=session, event=event, actor=actor,
                           in_turn=turns.seen(row, event))


def transient(error: BaseException) -> bool:
    """A failure of the database itself (locked, gone, full), not of one event: retry later."""
    return isinstance(error, OperationalError | InterfaceError | DisconnectionError |
                      PoolTimeoutError)


def consume(*, sessions: sessionmaker[Session], actor: str, limit: int = BATCH,
            name: str = CURSOR) -> Consumed:
    """Apply the next events Rasa committed (at most limit); safe to run in several processes.

    Raises what the database raises when it is the database that fails (transient), so the
    caller retries later with nothing moved.
    """
    with sessions() as session:
        cursor = _lock_cursor(session, name)
        now = time.time()
        holes = _expire(dict(cursor.holes or {}), now)
        try:
            rows = _pending(session, cursor, limit)
        except (OperationalError, ProgrammingError):
            session.rollback()
            if not tracker_store_ready(session):
                return Consumed()  # Rasa has not created its table yet
            raise
        position = cursor.position
        for row in rows:
            position, holes = advance(position, holes, row.id, now)
        try:
            _apply(session, rows, actor)
            cursor.position, cursor.holes = position, holes
            session.commit()
            return Consumed(applied=len(rows), position=position)
        except Exception as error:
            session.rollback()
            if transient(error):
                raise
            log.warning("applying %d Rasa events failed (%s); applying them one by one",
                        len(rows), error)
    result = Consumed()
    for row in rows:
        if _apply_alone(sessions, row, actor, name):
            result.applied += 1
        else:
            result.quarantined += 1
    return result


def _apply_alone(sessions: sessionmaker[Session], row: TrackerEvent, actor: str,
                 name: str) -> bool:
    """Apply one event and move the cursor past it; quarantine it if it fails. True if applied."""
    with sessions() as session:
        cursor = _lock_cursor(session, name)
        if not _unread(cursor, row.id):
            return True  # another reader got here first
        cursor.position, cursor.holes = advance(cursor.position, dict(cursor.holes or {}),
                                                row.id, time.time())
        try:
            _apply(session, [row], actor)
            session.commit()
            return True
        except Exception as error:
            session.rollback()
            if transient(error):
                raise
            reason = f"{type(error).__name__}: {error}"
    with sessions() as session:
        cursor = _lock_cursor(session, name)
        if not _unread(cursor, row.id):
            return True
        cursor.position, cursor.holes = advance(cursor.position, dict(cursor.holes or {}),
                                                row.id, time.time())
        insert_unless_exists(session, QuarantinedEvent, {
            "event_id": row.id, "sender_id": ingest.clean_text(row.sender_id)[:255],
            "data": ingest.clean_text(row.data), "error": ingest.clean_text(reason)[:2000],
            "quarantined_at": utcnow()}, ["event_id"])
        session.commit()
    log.error("Rasa event %s of %s quarantined: %s", row.id, row.sender_id, reason)
    return False


def _unread(cursor: EventCursor, event_id: int) -> bool:
    return event_id > cursor.position or str(event_id) in (cursor.holes or {})


def retry_quarantined(*, sessions: sessionmaker[Session], actor: str) -> tuple[int, int]:
    """Apply the quarantined events again (after a fix); (applied, still failing)."""
    applied = failing = 0
    with sessions() as session:
        waiting = session.scalars(select(QuarantinedEvent)
                                  .where(QuarantinedEvent.released_at.is_(None))
                                  .order_by(QuarantinedEvent.event_id)).all()
    for item in waiting:
        row = TrackerEvent(item.event_id, item.sender_id, "", item.data)
        with sessions() as session:
            try:
                event = row.as_event()
                ingest.apply_event(session=session, event=event, actor=actor,
                                   in_turn=ingest.answered_in_turn(event))
                session.execute(update(QuarantinedEvent)
                                .where(QuarantinedEvent.id == item.id)
                                .values(released_at=utcnow()))
                session.commit()
                applied += 1
            except Exception as error:
                session.rollback()
                log.warning("quarantined Rasa event %s still fails: %s", item.event_id, error)
                failing += 1
    return applied, failing


class EventFollower:
    """Applies Rasa's events as they are committed, until cancelled (the API runs one)."""

    def __init__(self, *, sessions: sessionmaker[Session], actor: str,
                 idle_seconds: float = FOLLOW_SECONDS) -> None:
        self.sessions = sessions
        self.actor = actor
        self.idle_seconds = idle_seconds

    async def run(self) -> None:
        """Forever: apply what is there, then wait a little (at once again after a full batch)."""
        failures = 0
        while True:
            try:
                done = await asyncio.to_thread(consume, sessions=self.sessions, actor=self.actor)
                failures = 0
                delay = 0.0 if done.read >= BATCH else self.idle_seconds
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                delay = min(30.0, self.idle_seconds * 2 ** failures)
                log.warning("reading Rasa's events failed (%s); again in %.1f s", error, delay)
            await asyncio.sleep(delay)
