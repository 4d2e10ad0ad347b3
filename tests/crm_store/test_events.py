"""Rasa's events into the CRM from its tracker store (crm_store.events), on SQLite and PostgreSQL.

The events are written the way Rasa's SQL tracker store writes them (tests/tracker_store.py).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from crm_store import conversations, ingest, interactions, support, users
from crm_store.events import advance, consume, retry_quarantined
from crm_store.models import EventCursor, Interaction, QuarantinedEvent
from tests.tracker_store import add_events

ACTOR = "service:rasa"


def user(text: str, message_id: str, **extra: Any) -> dict[str, Any]:
    return {"event": "user", "text": text, "message_id": message_id,
            "parse_data": {"intent": {"name": "greet", "confidence": 0.9}}, **extra}


def bot(text: str, **extra: Any) -> dict[str, Any]:
    return {"event": "bot", "text": text, **extra}


def logged(sessions: sessionmaker[Session], cid: str) -> list[tuple[str, str]]:
    with sessions() as session:
        return [(r.author, r.text) for r in interactions.list_for_conversation(
            session=session, conversation_id=cid)]


def position(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.get_one(EventCursor, "crm").position


def test_a_turn_is_logged_in_order_once_and_skips_what_the_crm_does_not_need(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    ids = add_events(engine, "web-a", [
        {"event": "action", "name": "action_session_start"},
        user("how do I share?", "m1", metadata={"channel": "web"}),
        {"event": "slot", "name": "x", "value": 1},
        bot("Use the Share button.", metadata={"faq_entry_id": "sharing"}),
    ])
    done = consume(sessions=sessions, actor=ACTOR)
    assert (done.applied, done.quarantined, done.position) == (4, 0, ids[-1])
    assert consume(sessions=sessions, actor=ACTOR).read == 0
    assert logged(sessions, "web-a") == [("customer", "how do I share?"),
                                         ("bot", "Use the Share button.")]
    assert position(sessions) == ids[-1]


def test_nothing_to_read_before_rasa_made_its_table(sessions: sessionmaker[Session]) -> None:
    assert consume(sessions=sessions, actor=ACTOR).read == 0


def test_one_bad_event_is_quarantined_alone_and_the_others_are_logged(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    add_events(engine, "web-a", [user("first", "a1"), bot("answer to first")])
    bad = add_events(engine, "web-b", [{"event": "user", "_raw": "{not json"}])[0]
    add_events(engine, "tg-7", [user("second", "b1"), bot("answer to second")])
    done = consume(sessions=sessions, actor=ACTOR)
    assert (done.applied, done.quarantined) == (4, 1)
    assert logged(sessions, "web-a") == [("customer", "first"), ("bot", "answer to first")]
    assert logged(sessions, "tg-7") == [("customer", "second"), ("bot", "answer to second")]
    with sessions() as session:
        quarantined = session.scalars(select(QuarantinedEvent)).all()
    assert [(q.event_id, q.sender_id) for q in quarantined] == [(bad, "web-b")]
    assert "JSONDecodeError" in quarantined[0].error
    assert consume(sessions=sessions, actor=ACTOR).read == 0  # never read again

    with sessions.begin() as session:  # fixed by hand, then applied by a retry
        session.execute(update(QuarantinedEvent).values(
            data='{"event": "user", "text": "fixed", "message_id": "c1"}'))
    assert retry_quarantined(sessions=sessions, actor=ACTOR) == (1, 0)
    assert logged(sessions, "web-b") == [("customer", "fixed")]


def test_a_lone_surrogate_is_logged_as_a_replacement_character(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    add_events(engine, "web-s", [user("hi \ud800 there", "s1"), bot("Hello!")])
    assert consume(sessions=sessions, actor=ACTOR).quarantined == 0
    assert logged(sessions, "web-s") == [("customer", "hi \ufffd there"), ("bot", "Hello!")]


def test_a_database_failure_moves_nothing(
    engine: Engine, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    add_events(engine, "web-a", [user("hello", "d1")])

    def broken(**kwargs: Any) -> bool:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(ingest, "apply_event", broken)
    with pytest.raises(OperationalError):
        consume(sessions=sessions, actor=ACTOR)
    with sessions() as session:
        assert session.scalars(select(QuarantinedEvent)).all() == []
    assert position(sessions) == 0
    monkeypatch.undo()
    assert consume(sessions=sessions, actor=ACTOR).applied == 1


def test_an_event_committed_late_with_a_lower_id_is_still_logged(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """On PostgreSQL two Rasa replicas can commit ids out of order; the cursor keeps holes."""
    add_events(engine, "web-a", [user("committed first", "l1")], ids=[10])
    assert consume(sessions=sessions, actor=ACTOR).position == 10
    add_events(engine, "web-b", [user("committed second", "l2")], ids=[7])
    assert consume(sessions=sessions, actor=ACTOR).applied == 1
    assert logged(sessions, "web-b") == [("customer", "committed second")]
    with sessions() as session:
        assert "7" not in session.get_one(EventCursor, "crm").holes


def test_holes_are_forgotten_after_a_while() -> None:
    position, holes = advance(3, {}, 6, now=100.0)
    assert (position, holes) == (6, {"4": 100.0, "5": 100.0})
    assert advance(position, holes, 5, now=101.0) == (6, {"4": 100.0})


def test_two_readers_at_once_apply_each_event_exactly_once(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    for n in range(40):
        add_events(engine, f"web-{n % 4}", [user(f"message {n}", f"m{n}"),
                                            {"event": "pause"}, {"event": "resume"}])
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while consume(sessions=sessions, actor=ACTOR, limit=7).read:
                pass
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert errors == []
    with sessions() as session:
        rows = interactions.list_for_conversation(session=session, conversation_id="web-1")
        assert [r.text for r in rows if r.author == "customer"] == [
            f"message {n}" for n in range(1, 40, 4)]
        # Each resume is applied once: one "the bot is back" notice per pause.
        assert sum(r.author == "system" for r in rows) == 10


def test_replies_are_delivered_in_the_turn_or_queued_for_the_channel(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    add_events(engine, "web-live", [user("hi", "w1"), bot("Hello!")])
    add_events(engine, "web-late", [user("hi", "w2", metadata={"in_turn": False}),
                                    bot("Hello again!")])
    add_events(engine, "tg-5", [user("hi", "t1"), bot("Hello, Telegram!",
                                                      data={"buttons": [{"title": "Yes",
                                                                         "payload": "/affirm"}]})])
    consume(sessions=sessions, actor=ACTOR)
    add_events(engine, "web-late", [bot("A second reply, read in a later batch")])
    consume(sessions=sessions, actor=ACTOR)
    with sessions() as session:
        replies = {r.text: r for r in session.scalars(
            select(Interaction).where(Interaction.author == "bot"))}
    assert replies["Hello!"].delivered_at is not None  # it was in the widget's HTTP answer
    assert replies["Hello again!"].delivered_at is None  # replayed: the stream delivers it
    assert replies["A second reply, read in a later batch"].delivered_at is None
    assert replies["Hello, Telegram!"].delivered_at is None  # the outbox sends it
    assert replies["Hello, Telegram!"].buttons == [{"title": "Yes", "payload": "/affirm"}]


def test_the_gateway_and_the_event_path_log_a_message_once(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """A message logged for a person while Rasa was down and replayed to it later."""
    with sessions.begin() as session:
        interactions.record(session=session, conversation_id="tg-9", direction="inbound",
                            author="customer", text="hello?",
                            dedupe_key=ingest.user_message_key("tg-9", "501"))
    add_events(engine, "tg-9", [user("hello?", "501")])
    consume(sessions=sessions, actor=ACTOR)
    assert logged(sessions, "tg-9") == [("customer", "hello?")]


def test_pause_and_resume_move_the_status_once(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    add_events(engine, "web-p", [user("a person please", "p1"), {"event": "pause"}])
    consume(sessions=sessions, actor=ACTOR)
    with sessions() as session:
        assert conversations.get_or_raise(session=session,
                                          conversation_id="web-p").status == "handoff"


def test_a_customer_message_logged_after_a_notice_is_shown_before_it(
    engine: Engine, sessions: sessionmaker[Session], client: TestClient,
    system_headers: dict[str, str],
) -> None:
    """The event path reads a turn a little late; a notice written meanwhile (an agent claimed)
    must still follow the message the customer sent before it, wherever the transcript is read."""
    cid = "web-late"
    add_events(engine, cid, [user("hello", "m1"), bot("Hi! How can I help?")])
    consume(sessions=sessions, actor=ACTOR)
    said_at = time.time()  # the customer asks for a person; Rasa has not been read yet
    with sessions.begin() as session:
        agent = users.create_user(session=session, email="sam@relay.test", name="Sam Agent",
                                  password="correct horse battery")
        support.set_status(session=session, conversation_id=cid, status="handoff",
                           reason="asked for a person", actor="relay-bot")
        assert support.claim(session=session, conversation_id=cid, agent_id=agent.id,
                             actor=f"user:{agent.id}") == support.Outcome.CLAIMED
    add_events(engine, cid, [user("I want to talk to a person", "m2", timestamp=said_at)])
    consume(sessions=sessions, actor=ACTOR)

    expected = [("customer", "hello"), ("bot", "Hi! How can I help?"),
                ("customer", "I want to talk to a person"),
                ("system", "Sam from the Nimbus Drive support team has joined the chat.")]
    assert logged(sessions, cid) == expected
    detail = client.get(f"/api/v1/conversations/{cid}", headers=system_headers).json()
    assert [(i["author"], i["text"]) for i in detail["interactions"]] == expected
    with sessions() as session:
        rows = interactions.list_for_conversation(session=session, conversation_id=cid)
        newer = interactions.list_for_conversation(session=session, conversation_id=cid,
                                                   after_id=rows[1].id)
    # The late message has the highest id: a reader following ids still gets every row once.
    assert max(r.id for r in rows) == rows[2].id
    assert [(r.author, r.text) for r in newer] == expected[2:]
