"""The console's live stream: a Server-Sent Event each time something an agent sees changed.

The stream is a doorbell, not a feed: each event carries only the new change mark
(crm_store.inbox.change_mark, and the typing board's version), and the page re-reads the queue
and the open conversation from their JSON endpoints. So whatever produces the events (this poll,
or a change feed) can change without the page noticing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.typing import TypingBoard, board_of
from crm_store import inbox

POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0
STREAM_LIFETIME_SECONDS = 300.0  # EventSource reconnects by itself


def _mark(sessions: sessionmaker[Session], typing_board: TypingBoard) -> str:
    with sessions() as session:
        return f"{inbox.change_mark(session=session)}.{typing_board.version}"


async def changes(
    request: Request, sessions: sessionmaker[Session], *,
    lifetime: float = STREAM_LIFETIME_SECONDS, poll: float = POLL_SECONDS,
) -> AsyncIterator[str]:
    """`change` events (the first one at once) while the browser listens, and heartbeats."""
    yield "retry: 1500\n\n"
    loop = asyncio.get_running_loop()
    started = last_beat = loop.time()
    seen = None
    typing_board = board_of(request.app.state)
    while loop.time() - started < lifetime:
        if await request.is_disconnected():
            return
        mark = await asyncio.to_thread(_mark, sessions, typing_board)
        if mark != seen:
            seen = mark
            yield f"event: change\ndata: {json.dumps({'mark': mark})}\n\n"
        elif loop.time() - last_beat > HEARTBEAT_SECONDS:
            last_beat = loop.time()
            yield ": keep-alive\n\n"
        await asyncio.sleep(poll)
