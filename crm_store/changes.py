"""The change feed: who waits for a conversation or the queue is woken when it changes.

One reader per API process, whatever the number of open streams:

* PostgreSQL: a connection that LISTENs on `relay_changes`, which triggers fill for every
  committed message and status change, whoever wrote it (migration 7a1c0e9d4b21);
* SQLite (the single process): one task that asks every POLL_SECONDS for messages with a
  higher id than it saw and for new audit rows (every status change and tag edit writes one).
  SQLite serialises writers, so ids arrive in commit order and the cursor misses nothing. It
  also keeps the outbound messages not yet delivered and looks again at those: a delivery
  worker (the Telegram bridge, another process) marking one delivered or failed wakes its
  conversation, so the agent sees "failed: the customer blocked the bot" at once.

Streams subscribe to topics (`conversation(id)`, QUEUE) and re-read the database when woken:
the database stays the source of truth, a notification only says "look again". When the
reader loses its connection, it wakes everyone on reconnect (ANY), so nothing is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

from sqlalchemy import Engine, func, or_, select

from crm_store import conversations, tags
from crm_store.enums import Direction
from crm_store.models import AuditLog, Interaction
from relay import channels

logger = logging.getLogger(__name__)

CHANNEL = "relay_changes"
QUEUE = "q"
ANY = "*"  # woken for everything: the reader reconnected and may have missed notifications
POLL_SECONDS = 0.5
LOOKBACK_IDS = 256
MAX_IN_FLIGHT = 5000  # outbound messages followed until delivered (the oldest are let go)
# Only a pushing channel's worker marks deliveries; the widget's stream reads per browser.
PUSHED = tuple(c.name for c in channels.REGISTRY if c.delivery == channels.Delivery.PUSH)
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0)


def conversation(conversation_id: str) -> str:
    """The topic of one conversation."""
    return f"c:{conversation_id}"


class ChangeFeed:
    """Subscriptions by topic and the one reader that wakes them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._waiting: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._reader: asyncio.Task[None] | None = None
        self.notifications = 0  # what the reader received, for tests and the benchmark
        self._seen: set[int] = set()  # SQLite: ids near the cursor already announced
        self._in_flight: dict[int, str] = {}  # SQLite: undelivered message id -> conversation

    async def start(self) -> None:
        """Start the reader (PostgreSQL LISTEN, or the SQLite watcher)."""
        if self.engine.dialect.name == "postgresql":
            self._reader = asyncio.create_task(self._listen(), name="relay-change-feed")
        else:
            self._reader = asyncio.create_task(self._watch(), name="relay-change-feed")

    async def stop(self) -> None:
        """Stop the reader."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    def publish(self, topic: str) -> None:
        """Wake whoever waits for topic (ANY: everyone)."""
        self.notifications += 1
        if topic == ANY:
            for events in self._waiting.values():
                for event in events:
                    event.set()
            return
        for event in self._waiting.get(topic, ()):
            event.set()

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[asyncio.Event]:
        """An Event set when one of the topics changes (clear it after reading)."""
        event = asyncio.Event()
        for topic in topics:
            self._waiting[topic].add(event)
        try:
            yield event
        finally:
            for topic in topics:
                waiting = self._waiting.get(topic)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._waiting[topic]

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open (all topics)."""
        return sum(len(events) for events in self._waiting.values())

    async def _listen(self) -> None:
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if failures:
                        self.publish(ANY)  # notifications may have been missed meanwhile
                    failures = 0
                    async for notify in conn.notifies():
                        self.publish(notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database went away: listen again when it is back
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                logger.warning("change feed: %s; listening again in %.1f s", error, delay)
                await asyncio.sleep(delay)

    def _read_sqlite(self, after_id: int, after_audit: int) -> tuple[int, int, list[str]]:
        with self.engine.connect() as connection:
            # Rows just below the cursor too: an id written explicitly (or a transaction that
            # took its id early) can appear after a higher one; LOOKBACK_IDS are re-checked.
            rows = [row for row in connection.execute(
                select(Interaction.id, Interaction.conversation_id, Interaction.direction,
                       Interaction.note, Interaction.channel, Interaction.delivered_at,
                       Interaction.failed_at)
                .where(Interaction.id > after_id - LOOKBACK_IDS).order_by(Interaction.id)
                .limit(1000 + LOOKBACK_IDS)
            ).all() if row.id not in self._seen]
            self._seen.update(row.id for row in rows)
            self._in_flight.update(
                (row.id, row.conversation_id) for row in rows
                if row.direction == Direction.OUTBOUND and not row.note and row.channel in PUSHED
                and row.delivered_at is None and row.failed_at is None)
            while len(self._in_flight) > MAX_IN_FLIGHT:
                del self._in_flight[min(self._in_flight)]
            moved = connection.execute(
                select(Interaction.id, Interaction.conversation_id)
                .where(Interaction.id.in_(list(self._in_flight)),
                       or_(Interaction.delivered_at.is_not(None),
                           Interaction.failed_at.is_not(None)))
            ).all() if self._in_flight else []
            for settled in moved:
                del self._in_flight[settled.id]
            if len(self._seen) > 4 * LOOKBACK_IDS:
                floor = max(self._seen) - LOOKBACK_IDS
                self._seen = {i for i in self._seen if i > floor}
            audits = connection.execute(
                select(AuditLog.id, AuditLog.entity, AuditLog.entity_id)
                .where(AuditLog.id > after_audit).order_by(AuditLog.id).limit(1000)
            ).all()
        topics = {conversation(row.conversation_id) for row in [*rows, *moved]}
        if rows:
            after_id = max(after_id, rows[-1].id)
            topics.add(QUEUE)  # a preview in the queue may have changed
        for row in audits:  # every status change and tag edit writes an audit row
            if row.entity in (conversations.ENTITY, tags.ENTITY) and row.entity_id:
                topics.update((conversation(row.entity_id), QUEUE))
        if audits:
            after_audit = audits[-1].id
        return after_id, after_audit, sorted(topics)

    async def _watch(self) -> None:
        while True:  # a database not migrated yet (or locked) is looked at again later
            try:
                after_id, after_audit = await asyncio.to_thread(self._start_cursor)
                break
            except Exception as error:
                logger.warning("change feed: %s", error)
                await asyncio.sleep(POLL_SECONDS)
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                after_id, after_audit, topics = await asyncio.to_thread(
                    self._read_sqlite, after_id, after_audit)
            except Exception as error:  # a locked or missing database: look again later
                logger.warning("change feed: %s", error)
                continue
            for topic in topics:
                self.publish(topic)

    def _start_cursor(self) -> tuple[int, int]:
        with self.engine.connect() as connection:
            last = connection.execute(select(func.max(Interaction.id))).scalar() or 0
            audit = connection.execute(select(func.max(AuditLog.id))).scalar() or 0
            self._seen = set(connection.execute(
                select(Interaction.id).where(Interaction.id > last - LOOKBACK_IDS)).scalars())
            # What is still being delivered (one scan at start).
            self._in_flight = dict(connection.execute(
                select(Interaction.id, Interaction.conversation_id)
                .where(Interaction.delivered_at.is_(None), Interaction.failed_at.is_(None),
                       Interaction.direction == Direction.OUTBOUND,
                       Interaction.note.is_(False), Interaction.channel.in_(PUSHED))
                .order_by(Interaction.id.desc()).limit(MAX_IN_FLIGHT)).tuples().all())
        return int(last), int(audit)
