"""The widget's event stream: out-of-turn messages pushed to the browser as they are written.

Agent replies and Relay's notices (a person joined, the bot is back: interactions.out_of_turn).
The web channel pulls (relay.channels.Delivery.PULL): each open widget's stream reads the
conversation's messages when it opens and again each time the app's change feed
(crm_store.changes: PostgreSQL NOTIFY, or one watcher per process on SQLite) says the
conversation changed — never on a timer — and sends them as Server-Sent Events. Delivery is
per browser, so each stream keeps its own cursor rather than marking Interaction.delivered_at.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from crm_store import changes, interactions
from crm_store.changes import ChangeFeed
from crm_store.models import Interaction, utcnow

WAKE_SECONDS = 1.0  # how soon a closed browser is noticed (no database read)
HEARTBEAT_SECONDS = 15.0
STREAM_LIFETIME_SECONDS = 300.0  # EventSource reconnects by itself, with Last-Event-ID
LATE_COMMIT_SECONDS = 30.0  # how long a reply's transaction may take to commit and still be seen


def message_json(row: Interaction) -> dict[str, Any]:
    """One message as the widget shows it."""
    return {"id": row.id, "author": row.author, "direction": row.direction, "text": row.text,
            "created_at": row.created_at.isoformat()}


def _out_of_turn(
    sessions: sessionmaker[Session], conversation_id: str, after_id: int
) -> list[dict[str, Any]]:
    with sessions() as session:
        rows = interactions.out_of_turn_for_stream(
            session=session, conversation_id=conversation_id, after_id=after_id,
            since=utcnow() - timedelta(seconds=LATE_COMMIT_SECONDS))
        return [message_json(row) for row in rows]


async def out_of_turn_events(
    request: Request, sessions: sessionmaker[Session], conversation_id: str, after: int,
    feed: ChangeFeed,
) -> AsyncIterator[str]:
    """The event stream of one widget: agent replies and notices as written, and heartbeats."""
    # Ids are handed out before commit, so on PostgreSQL a reply can become visible after
    # one with a higher id: "id > cursor" alone would skip it. Each poll therefore also
    # re-reads the replies created in the last LATE_COMMIT_SECONDS and sends those this
    # stream has not sent yet (`sent`). Delivery is per browser, so this stays a cursor
    # here rather than Interaction.delivered_at. Recent replies at or below the client's
    # own cursor when the stream opens count as already shown, so a reconnect repeats
    # nothing.
    cursor = after
    sent: set[int] | None = None
    yield "retry: 2000\n\n"
    loop = asyncio.get_running_loop()
    started = last_beat = loop.time()
    async with feed.subscribe(changes.conversation(conversation_id)) as changed:
        changed.set()  # read once on opening: the database is the source of truth
        while loop.time() - started < STREAM_LIFETIME_SECONDS:
            if await request.is_disconnected():
                return
            if changed.is_set():
                changed.clear()
                messages = await asyncio.to_thread(_out_of_turn, sessions, conversation_id,
                                                   cursor)
                if sent is None:
                    sent = {message["id"] for message in messages if message["id"] <= after}
                for message in messages:
                    if message["id"] in sent:
                        continue
                    sent.add(message["id"])
                    cursor = max(cursor, message["id"])
                    yield f"id: {cursor}\nevent: message\ndata: {json.dumps(message)}\n\n"
            if loop.time() - last_beat > HEARTBEAT_SECONDS:
                last_beat = loop.time()
                yield ": keep-alive\n\n"
            # Woken by the feed, or after a second to notice a browser that went away.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=WAKE_SECONDS)
