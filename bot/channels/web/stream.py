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

from bot.channels.typing import Typist, board_of
from crm_store import attachments, changes, interactions, support
from crm_store.changes import ChangeFeed
from crm_store.enums import Author
from crm_store.models import Attachment, Interaction, utcnow

WAKE_SECONDS = 1.0  # how soon a closed browser is noticed (no database read)
HEARTBEAT_SECONDS = 15.0
STREAM_LIFETIME_SECONDS = 300.0  # EventSource reconnects by itself, with Last-Event-ID
TYPING_REPEAT_SECONDS = 2.0  # how often "the agent is typing" is repeated while it lasts
LATE_COMMIT_SECONDS = 30.0  # how long a reply's transaction may take to commit and still be seen


def file_url(conversation_id: str, attachment_id: int) -> str:
    """Where the visitor's widget downloads a file of its conversation (its session's URL)."""
    return f"/chat/{conversation_id}/attachments/{attachment_id}"


def message_json(row: Interaction, agent_names: dict[int, str] | None = None,
                 files: dict[int, Attachment] | None = None) -> dict[str, Any]:
    """One message as the widget shows it: an agent's first name, which notice it is, the file
    it carries (with the URL the visitor's session downloads it from)."""
    body: dict[str, Any] = {"id": row.id, "author": row.author, "direction": row.direction,
                            "text": row.text, "created_at": row.created_at.isoformat()}
    if row.author == Author.AGENT and row.agent_id is not None and agent_names:
        body["agent_name"] = agent_names.get(row.agent_id)
    if row.author == Author.SYSTEM:
        body["notice"] = support.notice_kind(row.text)
    if files and row.id in files:
        stored = files[row.id]
        body["attachment"] = attachments.describe(
            stored, url=file_url(row.conversation_id, stored.id))
    return body


def messages_json(session: Session, rows: list[Interaction]) -> list[dict[str, Any]]:
    """Messages as the widget shows them, with the agents' first names and the files looked
    up once; a button the customer clicked shows as its title (shown_text)."""
    names = {agent_id: support.first_name(session, agent_id)
             for agent_id in {r.agent_id for r in rows if r.agent_id is not None}}
    files = attachments.for_messages(session=session, interaction_ids=[
        r.id for r in rows if r.author in attachments.FILE_AUTHORS])
    bodies = [message_json(row, names, files) for row in rows]
    for body, title in zip(bodies, interactions.clicked_titles(rows), strict=True):
        if title is not None:
            body["shown_text"] = title
    return bodies


def _out_of_turn(
    sessions: sessionmaker[Session], conversation_id: str, after_id: int
) -> list[dict[str, Any]]:
    with sessions() as session:
        rows = interactions.out_of_turn_for_stream(
            session=session, conversation_id=conversation_id, after_id=after_id,
            since=utcnow() - timedelta(seconds=LATE_COMMIT_SECONDS))
        return messages_json(session, rows)


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
    typing_board = board_of(request.app.state)
    told_typing = 0.0
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
            name = typing_board.typing(conversation_id, Typist.AGENT)
            if name is not None and loop.time() - told_typing > TYPING_REPEAT_SECONDS:
                told_typing = loop.time()
                yield f"event: typing\ndata: {json.dumps({'name': name})}\n\n"
            if loop.time() - last_beat > HEARTBEAT_SECONDS:
                last_beat = loop.time()
                yield ": keep-alive\n\n"
            # Woken by the feed, or after a second to notice a browser that went away.
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
                # arrives as the event is set (CPython gh-86296), and the task would run on.
                async with asyncio.timeout(WAKE_SECONDS):
                    await changed.wait()
