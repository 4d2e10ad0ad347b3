"""Rasa tracker events → Interactions and conversation status (crm_store.ingest)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session

from crm_store import conversations, customers, interactions, support
from crm_store.ingest import ingest_rasa_events

T0 = 1_764_000_000.0
RASA = "service:rasa-broker"  # the actor of the events' status changes


def user(sender: str, text: str, ts: float, **extra: Any) -> dict[str, Any]:
    return {
        "event": "user",
        "sender_id": sender,
        "timestamp": ts,
        "text": text,
        "parse_data": {"intent": {"name": "greet", "confidence": 0.91}, "entities": []},
        "input_channel": "rest",
        **extra,
    }


def bot(sender: str, text: str, ts: float, **metadata: Any) -> dict[str, Any]:
    return {
        "event": "bot",
        "sender_id": sender,
        "timestamp": ts,
        "text": text,
        "metadata": metadata,
    }


def test_turns_become_interactions_in_order(session: Session) -> None:
    sender = "web-0123abcd"
    events = [
        {"event": "action", "sender_id": sender, "timestamp": T0, "name": "action_session_start"},
        user(sender, "how do I reset my password?", T0 + 1, metadata={"channel": "web"}),
        {"event": "action", "sender_id": sender, "timestamp": T0 + 2, "name": "action_faq"},
        bot(sender, "Use 'Forgot password'.", T0 + 3, faq_entry_id="reset-password"),
        {"event": "slot", "sender_id": sender, "timestamp": T0 + 4, "name": "x", "value": 1},
    ]
    assert ingest_rasa_events(session=session, events=events, actor=RASA) == 2
    rows = interactions.list_for_conversation(session=session, conversation_id=sender)
    assert [(r.direction, r.author, r.channel) for r in rows] == [
        ("inbound", "customer", "web"),
        ("outbound", "bot", "web"),
    ]
    assert (rows[0].intent, rows[0].confidence) == ("greet", 0.91)
    assert rows[1].faq_entry_id == "reset-password"
    assert rows[0].created_at.timestamp() == T0 + 1


def test_redelivery_is_a_no_op(session: Session) -> None:
    events = [user("tg-42", "hi", T0), bot("tg-42", "hello", T0 + 0.5)]
    assert ingest_rasa_events(session=session, events=events, actor=RASA) == 2
    assert ingest_rasa_events(session=session, events=events, actor=RASA) == 0
    rows = interactions.list_for_conversation(session=session, conversation_id="tg-42")
    assert [(r.text, r.channel) for r in rows] == [("hi", "telegram"), ("hello", "telegram")]


def test_same_text_twice_is_two_messages(session: Session) -> None:
    events = [user("rest-1", "yes", T0), user("rest-1", "yes", T0 + 5)]
    assert ingest_rasa_events(session=session, events=events, actor=RASA) == 2


def test_channel_precedence(session: Session) -> None:
    events = [
        user("web-a", "1", T0, metadata={"channel": "telegram"}),  # gateway metadata wins
        user("rest-b", "2", T0),  # rest-… ids and input_channel "rest"
        user("anything", "3", T0, input_channel="telegram"),
    ]
    ingest_rasa_events(session=session, events=events, actor=RASA)
    got = {
        cid: interactions.list_for_conversation(session=session, conversation_id=cid)[0].channel
        for cid in ("web-a", "rest-b", "anything")
    }
    assert got == {"web-a": "telegram", "rest-b": "rest", "anything": "telegram"}


def test_pause_and_resume_move_the_status(session: Session) -> None:
    sender = "web-p"
    ingest_rasa_events(
        session=session,
        events=[
            user(sender, "a person please", T0),
            {"event": "pause", "sender_id": sender, "timestamp": T0 + 1},
        ],
        actor=RASA,
    )
    assert conversations.get_or_raise(session=session, conversation_id=sender).status == "handoff"
    # Messages during the handoff are still logged (Rasa logs them while paused).
    ingest_rasa_events(session=session, events=[user(sender, "hello?", T0 + 2)], actor=RASA)
    assert len(interactions.list_for_conversation(session=session, conversation_id=sender)) == 2
    support.set_status(session=session, conversation_id=sender, status="agent", actor=RASA)
    ingest_rasa_events(
        session=session, events=[{"event": "pause", "sender_id": sender, "timestamp": T0 + 3}],
        actor=RASA,
    )
    assert conversations.get_or_raise(session=session, conversation_id=sender).status == "agent"
    ingest_rasa_events(
        session=session, events=[{"event": "resume", "sender_id": sender, "timestamp": T0 + 4}],
        actor=RASA,
    )
    assert conversations.get_or_raise(session=session, conversation_id=sender).status == "bot"


def test_known_customer_is_linked_and_junk_is_skipped(session: Session) -> None:
    c = customers.create(session=session, actor="test", email="known@example.com")
    conversations.link_customer(
        session=session, actor="test", conversation_id="web-k", customer_id=c.id
    )
    events: list[Any] = [
        user("web-k", "hi again", T0),
        {"event": "user", "text": "no sender"},
        "not a dict",
        {"event": "bot", "sender_id": "web-k", "timestamp": T0 + 1, "text": None, "data": {}},
    ]
    assert ingest_rasa_events(session=session, events=events, actor=RASA) == 2
    rows = interactions.list_for_conversation(session=session, conversation_id="web-k")
    assert [(r.customer_id, r.text) for r in rows] == [(c.id, "hi again"), (c.id, "")]


def test_malformed_parse_data_is_stored_without_an_intent(session: Session) -> None:
    """A user event whose parse_data is not Rasa's shape is still logged, not a 500
    (issue 15, #7)."""
    odd = [{"intent": "x"}, {"intent": {"name": 5, "confidence": "high"}}, "text", None,
           {"intent": {"name": "n" * 500, "confidence": float("nan")}}]
    events = [user("web-odd", f"message {i}", T0 + i, parse_data=parse)
              for i, parse in enumerate(odd)]
    assert ingest_rasa_events(session=session, events=events, actor=RASA) == len(odd)
    rows = interactions.list_for_conversation(session=session, conversation_id="web-odd")
    assert [(r.intent, r.confidence) for r in rows[:4]] == [(None, None)] * 4
    assert rows[4].intent == "n" * 200 and rows[4].confidence is None


def language(sender: str, value: Any, ts: float) -> dict[str, Any]:
    return {"event": "slot", "sender_id": sender, "timestamp": ts, "name": "language",
            "value": value}


def test_the_language_the_bot_detects_is_the_conversations_and_its_customers(
    session: Session,
) -> None:
    sender = "web-1a2b3c"
    events = [user(sender, "¿cuánto cuesta pro?", T0), language(sender, "es", T0 + 1)]
    assert ingest_rasa_events(session=session, events=events, actor=RASA) == 2
    conversation = conversations.get_or_raise(session=session, conversation_id=sender)
    assert conversation.language == "es"
    # Identified later: the customer takes the conversation's language…
    ana = customers.create(session=session, actor="test", email="ana@example.com")
    conversations.link_customer(session=session, conversation_id=sender, customer_id=ana.id,
                                actor="test")
    assert ana.language == "es"
    # …and follows it when the customer switches.
    assert ingest_rasa_events(session=session, events=[language(sender, "pt", T0 + 2)],
                              actor=RASA) == 1
    assert (conversation.language, ana.language) == ("pt", "pt")
    # The same value again changes nothing; values Relay does not speak are ignored.
    for value in ("pt", "xx", None, 3):
        assert ingest_rasa_events(session=session, events=[language(sender, value, T0 + 3)],
                                  actor=RASA) == 0
    assert conversation.language == "pt"


def test_a_pause_or_resume_read_late_does_not_undo_what_happened_since(
    session: Session,
) -> None:
    """The event path lags behind the turns: a resume of an earlier handoff read after the
    customer was handed off again must not take them out of the queue, and the pause of a
    handoff an agent already resolved must not put them back in it."""
    now = time.time()
    sender = "web-late"
    support.request_handoff(session=session, conversation_id=sender, actor=RASA,
                            reason="asked again", transcript="-")  # the action, directly
    stale_resume = {"event": "resume", "sender_id": sender, "timestamp": now - 5}
    ingest_rasa_events(session=session, events=[stale_resume], actor=RASA)
    assert conversations.get_or_raise(session=session, conversation_id=sender).status == "handoff"
    resume = {"event": "resume", "sender_id": sender, "timestamp": now + 1}
    ingest_rasa_events(session=session, events=[resume], actor=RASA)
    assert conversations.get_or_raise(session=session, conversation_id=sender).status == "bot"
    stale_pause = {"event": "pause", "sender_id": sender, "timestamp": now - 2}
    ingest_rasa_events(session=session, events=[stale_pause], actor=RASA)
    assert conversations.get_or_raise(session=session, conversation_id=sender).status == "bot"
    pause = {"event": "pause", "sender_id": sender, "timestamp": now + 2}
    ingest_rasa_events(session=session, events=[pause], actor=RASA)
    assert conversations.get_or_raise(session=session, conversation_id=sender).status == "handoff"


def test_a_message_rasa_handled_late_is_logged_when_the_customer_sent_it(
    session: Session,
) -> None:
    """The gateway's received_at (a message held while Rasa started) is believed only if it
    is before Rasa's own time and not over a day before it."""
    late = [user("web-late", "held while Rasa started", T0 + 60,
                 metadata={"channel": "web", "received_at": T0 + 5}),
            user("web-late", "from the future?", T0 + 70,
                 metadata={"channel": "web", "received_at": T0 + 500}),
            user("web-late", "two days old?", T0 + 80,
                 metadata={"channel": "web", "received_at": T0 - 2 * 86_400}),
            user("web-late", "not a time", T0 + 90,
                 metadata={"channel": "web", "received_at": "yesterday"}),
            user("web-late", "nothing said", T0 + 95, metadata={"channel": "web"})]
    assert ingest_rasa_events(session=session, events=late, actor=RASA) == 5
    rows = interactions.list_for_conversation(session=session, conversation_id="web-late")
    assert [(r.text, r.created_at.timestamp()) for r in rows] == [
        ("held while Rasa started", T0 + 5), ("from the future?", T0 + 70),
        ("two days old?", T0 + 80), ("not a time", T0 + 90), ("nothing said", T0 + 95)]
