"""The change feed (crm_store/changes.py) on SQLite and PostgreSQL: a write in another session
wakes the streams waiting for that conversation or the queue, and nobody else."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from crm_store import changes, interactions, support, tags
from crm_store.enums import Author, Direction


def _write(sessions: sessionmaker[Session], conversation_id: str, author: str = Author.AGENT,
           ) -> None:
    with sessions.begin() as session:
        interactions.record(session=session, conversation_id=conversation_id,
                            direction=Direction.OUTBOUND, author=author, text="hello",
                            channel="web")


async def _woken(event: asyncio.Event, timeout: float = 5.0) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except TimeoutError:
        return False


def test_a_message_wakes_its_conversation_and_not_others(
    engine: Engine, sessions: sessionmaker[Session],
) -> None:
    mine, other = "web-" + "1" * 32, "web-" + "2" * 32

    async def scenario() -> tuple[bool, bool, int]:
        feed = changes.ChangeFeed(engine)
        await feed.start()
        try:
            await asyncio.sleep(0.6)  # listening (PostgreSQL) / cursor taken (SQLite)
            async with feed.subscribe(changes.conversation(mine)) as waiting_mine, \
                    feed.subscribe(changes.conversation(other)) as waiting_other:
                await asyncio.to_thread(_write, sessions, mine)
                woke = await _woken(waiting_mine)
                await asyncio.sleep(0.7)
                open_now = feed.subscribers
            return woke, waiting_other.is_set(), open_now - feed.subscribers
        finally:
            await feed.stop()

    woke, other_woke, closed = asyncio.run(scenario())
    assert woke, "the conversation's stream was not woken by the new message"
    assert not other_woke, "another conversation's stream was woken"
    assert closed == 2


def test_a_handoff_wakes_the_queue(engine: Engine, sessions: sessionmaker[Session]) -> None:
    conversation = "web-" + "3" * 32
    _write(sessions, conversation, author=Author.BOT)

    async def scenario() -> bool:
        feed = changes.ChangeFeed(engine)
        await feed.start()
        try:
            await asyncio.sleep(0.6)
            async with feed.subscribe(changes.QUEUE) as queue:
                def hand_off() -> None:
                    with sessions.begin() as session:
                        support.wait_for_person(session=session, conversation_id=conversation,
                                                reason="test", actor="service:test")
                await asyncio.to_thread(hand_off)
                return await _woken(queue)
        finally:
            await feed.stop()

    assert asyncio.run(scenario())


def test_a_delivery_and_a_tag_wake_their_conversation(
    engine: Engine, sessions: sessionmaker[Session],
) -> None:
    """The Telegram bridge marks a reply delivered, then another failed (the customer blocked
    the bot), in its own process; an agent tags the conversation: each wakes its console."""
    conversation = "tg-4711"
    with sessions.begin() as session:
        ids = [interactions.record(session=session, conversation_id=conversation,
                                   direction=Direction.OUTBOUND, author=Author.AGENT,
                                   text=text, channel="telegram").id
               for text in ("first", "second")]

    def mark(interaction_id: int, failed: bool) -> None:
        from crm_store.models import Interaction, utcnow

        with sessions.begin() as session:
            row = session.get_one(Interaction, interaction_id)
            if failed:
                row.failed_at, row.delivery_error = utcnow(), "Forbidden: bot was blocked"
            else:
                row.delivered_at = utcnow()

    def tag() -> None:
        with sessions.begin() as session:
            tags.add(session=session, conversation_id=conversation, tag="vip",
                     actor="user:1")

    async def scenario() -> list[bool]:
        feed = changes.ChangeFeed(engine)
        await feed.start()
        woken = []
        try:
            await asyncio.sleep(0.7)  # the messages seen (SQLite), or listening (PostgreSQL)
            for step in (lambda: mark(ids[0], False), lambda: mark(ids[1], True), tag):
                async with feed.subscribe(changes.conversation(conversation)) as waiting:
                    await asyncio.sleep(0.7)  # nothing else is pending for it
                    waiting.clear()
                    await asyncio.to_thread(step)
                    woken.append(await _woken(waiting))
        finally:
            await feed.stop()
        return woken

    assert asyncio.run(scenario()) == [True, True, True]
