"""Undelivered out-of-turn messages and the delivered_at claim, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from alembic import command
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from crm_store import conversations, interactions
from crm_store.migrate import alembic_config
from crm_store.models import Interaction, utcnow


def _reply(session: Session, conversation_id: str, text: str) -> int:
    row = interactions.record(session=session, conversation_id=conversation_id,
                              direction="outbound", author="agent", text=text)
    return row.id


def test_lists_only_unclaimed_agent_replies_in_id_order(session: Session) -> None:
    first = _reply(session, "tg-1", "first")
    interactions.add_note(session=session, conversation_id="tg-1", text="internal")
    interactions.record(session=session, conversation_id="tg-1", direction="outbound",
                        author="bot", text="a bot line already sent", delivered=True)
    interactions.record(session=session, conversation_id="tg-1", direction="inbound",
                        author="customer", text="hi")
    web = _reply(session, "web-" + "a" * 32, "to the widget")
    second = _reply(session, "tg-2", "second")

    def ids(**kwargs: object) -> list[int]:
        return [r.id for r in interactions.list_undelivered(
            session=session, **kwargs)]  # type: ignore[arg-type]

    assert ids() == [first, web, second]
    assert ids(channel="telegram") == [first, second]
    assert ids(channel="telegram", conversation_id="tg-2") == [second]
    assert ids(limit=1) == [first]
    assert interactions.mark_delivered(session=session, interaction_id=first)
    assert ids(channel="telegram") == [second]
    with pytest.raises(ValueError, match="channel must be one of"):
        ids(channel="fax")


def test_notices_are_delivered_but_replies_given_in_the_turn_are_not(session: Session) -> None:
    """A system message is out-of-turn (a notice: a person joined) unless recorded delivered
    (the gateway's own answer in the turn, e.g. "your message is saved")."""
    in_turn = interactions.record(session=session, conversation_id="tg-1", direction="outbound",
                                  author="system", text="Your message is saved.", delivered=True)
    notice = interactions.record(session=session, conversation_id="tg-1", direction="outbound",
                                 author="system", text="Sam has joined the chat.")
    reply = _reply(session, "tg-1", "Hi, Sam here")
    assert in_turn.delivered_at is not None
    pending = interactions.list_undelivered(session=session, channel="telegram")
    assert [r.id for r in pending] == [notice.id, reply]
    streamed = interactions.out_of_turn_for_stream(session=session, conversation_id="tg-1",
                                                   after_id=0, since=utcnow())
    assert [r.id for r in streamed] == [notice.id, reply]


def test_mark_delivered_sets_the_time_once(session: Session) -> None:
    reply = _reply(session, "tg-1", "hello")
    assert interactions.mark_delivered(session=session, interaction_id=reply) is True
    when = session.scalar(select(Interaction.delivered_at).where(Interaction.id == reply))
    assert when is not None and when.tzinfo is not None
    assert interactions.mark_delivered(session=session, interaction_id=reply) is False
    assert session.scalar(select(Interaction.delivered_at).where(Interaction.id == reply)) == when
    assert interactions.mark_delivered(session=session, interaction_id=999_999) is False


def test_two_workers_never_both_claim(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        reply = _reply(session, "tg-1", "hello")
    with sessions() as worker_a:
        assert interactions.mark_delivered(session=worker_a, interaction_id=reply)
        outcome: list[bool] = []

        def worker_b() -> None:
            # Blocks on A's row lock (PostgreSQL) or write lock (SQLite) until A commits.
            with sessions() as session:
                outcome.append(interactions.mark_delivered(session=session,
                                                           interaction_id=reply))
                session.commit()

        thread = threading.Thread(target=worker_b)
        thread.start()
        thread.join(0.3)
        worker_a.commit()
    thread.join(20)
    assert outcome == [False]


def test_a_rolled_back_claim_can_be_claimed_again(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        reply = _reply(session, "tg-1", "hello")
    with sessions() as session:
        assert interactions.mark_delivered(session=session, interaction_id=reply)
        session.rollback()  # e.g. sending failed
    with sessions.begin() as session:
        assert [r.id for r in interactions.list_undelivered(session=session)] == [reply]
        assert interactions.mark_delivered(session=session, interaction_id=reply)


def test_a_lower_id_committed_late_is_still_listed(sessions: sessionmaker[Session],
                                                   database_url: str) -> None:
    """The bug delivered_at fixes: ids are handed out before commit, so they commit out of order."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers, so ids always commit in order there")
    # Two chats: replies to one chat also update its conversation row, which serialises them.
    with sessions.begin() as session:
        for chat in ("tg-1", "tg-2"):
            conversations.get_or_create(session=session, conversation_id=chat)
    with sessions() as slow:
        low = _reply(slow, "tg-1", "written first, committed last")  # id taken, not committed
        with sessions.begin() as fast:
            high = _reply(fast, "tg-2", "written second, committed first")
        assert low < high
        with sessions.begin() as worker:
            pending = interactions.list_undelivered(session=worker, channel="telegram")
            assert [r.id for r in pending] == [high]
            assert interactions.mark_delivered(session=worker, interaction_id=high)
        slow.commit()
    with sessions.begin() as worker:
        pending = interactions.list_undelivered(session=worker, channel="telegram")
        assert [r.id for r in pending] == [low]


def test_the_migration_marks_existing_agent_replies_delivered(engine: Engine,
                                                              database_url: str) -> None:
    """Upgrading must not make the Telegram bridge replay every agent reply ever written, nor
    the bot replies the old gateway sent in their turn."""
    config = alembic_config(database_url)
    command.downgrade(config, "e6479dc4b377")
    insert = text(
        "INSERT INTO interactions (conversation_id, channel, direction, author, text, note,"
        " created_at) VALUES ('tg-1', 'telegram', 'outbound', :author, 'x', :note, :at)")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO conversations (id, channel, status, created_at)"
                          " VALUES ('tg-1', 'telegram', 'agent', :at)"), {"at": utcnow()})
        for author, note in (("agent", False), ("agent", True), ("bot", False)):
            conn.execute(insert, {"author": author, "note": note, "at": utcnow()})
    command.upgrade(config, "head")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT author, note, delivered_at FROM interactions"
                                 " ORDER BY id")).all()
    assert [(a, bool(n), d is not None) for a, n, d in rows] == [
        ("agent", False, True), ("agent", True, False), ("bot", False, True)]


def test_the_migration_marks_existing_in_turn_system_replies_delivered(
    engine: Engine, database_url: str
) -> None:
    """Before notices, every system message was a reply given in the turn: none is replayed."""
    config = alembic_config(database_url)
    command.downgrade(config, "564df016a613")
    at = utcnow()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO conversations (id, channel, status, created_at)"
                          " VALUES ('tg-1', 'telegram', 'handoff', :at)"), {"at": at})
        conn.execute(text(
            "INSERT INTO interactions (conversation_id, channel, direction, author, text, note,"
            " created_at) VALUES ('tg-1', 'telegram', 'outbound', 'system', 'saved', false, :at),"
            " ('tg-1', 'telegram', 'inbound', 'customer', 'hello?', false, :at)"), {"at": at})
    command.upgrade(config, "head")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT author, delivered_at FROM interactions ORDER BY id"))
        assert [(author, when is not None) for author, when in rows] == [
            ("system", True), ("customer", False)]
