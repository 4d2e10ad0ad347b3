"""The FAQ outcome of each customer question is recorded at ingest (crm_store.faq_outcomes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from crm_store import interactions, support
from crm_store.ingest import ingest_rasa_events
from tests.crm_store.test_ingest import RASA, T0, bot

CLARIFY_BUTTONS = [
    {"title": "How much does Pro cost?", "payload": '/choose_faq{"faq_id": "pro-price"}'},
    {"title": "Something else", "payload": "/ask_human"},
]


def question(sender: str, text: str, ts: float, intent: str = "ask_question") -> dict[str, Any]:
    return {
        "event": "user", "sender_id": sender, "timestamp": ts, "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}},
    }


def outcomes(session: Session, sender: str) -> list[tuple[str, str | None, float | None]]:
    rows = interactions.list_for_conversation(session=session, conversation_id=sender)
    return [(r.text, r.faq_outcome, r.faq_score) for r in rows if r.author == "customer"]


def test_answer_clarify_and_decline_are_read_from_the_replies(session: Session) -> None:
    sender = "web-outcomes1"
    clarify = bot(sender, "Did you mean one of these?", T0 + 3)
    clarify["data"] = {"buttons": CLARIFY_BUTTONS}
    events = [
        question(sender, "how do I reset my password", T0),
        bot(sender, "Use 'Forgot password'.", T0 + 1, faq_entry_id="reset-password"),
        question(sender, "price?", T0 + 2),
        clarify,
        question(sender, '/choose_faq{"faq_id": "pro-price"}', T0 + 4, intent="choose_faq"),
        bot(sender, "Pro costs $8.", T0 + 5, faq_entry_id="pro-price"),
        question(sender, "can you walk my dog", T0 + 6, intent="out_of_scope"),
        bot(sender, "I'm not sure about that one.", T0 + 7, utter_action="utter_not_sure"),
        question(sender, "hi", T0 + 8, intent="greet"),
        bot(sender, "Hello!", T0 + 9, utter_action="utter_greet"),
    ]
    ingest_rasa_events(session=session, events=events, actor=RASA)
    assert outcomes(session, sender) == [
        ("how do I reset my password", "answered", None),
        ("price?", "clarify", None),
        ('/choose_faq{"faq_id": "pro-price"}', None, None),
        ("can you walk my dog", "declined", None),
        ("hi", None, None),
    ]
    # Redelivering the batch changes nothing.
    ingest_rasa_events(session=session, events=events, actor=RASA)
    assert [o for _, o, _ in outcomes(session, sender)] == [
        "answered", "clarify", None, "declined", None
    ]


def test_stated_outcome_and_score_win(session: Session) -> None:
    sender = "web-outcomes2"
    events = [
        question(sender, "is there a student discount", T0),
        bot(sender, "Education pricing…", T0 + 1, faq_entry_id="education",
            faq_outcome="answered", faq_score=0.42),
    ]
    ingest_rasa_events(session=session, events=events, actor=RASA)
    assert outcomes(session, sender) == [("is there a student discount", "answered", 0.42)]


def test_a_handoff_after_an_unanswered_question_declines_it(session: Session) -> None:
    sender = "web-outcomes3"
    events = [
        question(sender, "my sync engine shows error 0x80", T0),
        bot(sender, "I'm not sure.", T0 + 1, utter_action="utter_not_sure"),
        question(sender, "the red icon on the tray", T0 + 2, intent="nlu_fallback"),
        bot(sender, "I've passed our conversation to the team.", T0 + 3),
        {"event": "pause", "sender_id": sender, "timestamp": T0 + 4},
    ]
    ingest_rasa_events(session=session, events=events, actor=RASA)
    assert [o for _, o, _ in outcomes(session, sender)] == ["declined", "declined"]


def test_asking_for_a_person_is_not_a_declined_question(session: Session) -> None:
    sender = "web-outcomes4"
    events = [
        question(sender, "I want to talk to a human", T0, intent="ask_human"),
        bot(sender, "I've passed our conversation to the team.", T0 + 1),
        {"event": "pause", "sender_id": sender, "timestamp": T0 + 2},
    ]
    ingest_rasa_events(session=session, events=events, actor=RASA)
    assert outcomes(session, sender) == [("I want to talk to a human", None, None)]


def test_the_handoff_action_queued_it_before_the_pause_arrived(session: Session) -> None:
    """In the running stack the handoff action asks the support desk for a person before Rasa
    publishes the turn's events: the pause changes no status, but still declines the question;
    a redelivered pause leaves a later question alone."""
    sender = "web-outcomes5"
    first = [
        question(sender, "my sync engine shows error 0x80", T0, intent="nlu_fallback"),
        bot(sender, "I've passed our conversation to the team.", T0 + 1),
    ]
    pause = {"event": "pause", "sender_id": sender, "timestamp": T0 + 2}
    ingest_rasa_events(session=session, events=first, actor=RASA)
    support.request_handoff(session=session, conversation_id=sender, actor=RASA,
                            reason="the assistant could not help", transcript="")
    ingest_rasa_events(session=session, events=[pause], actor=RASA)
    assert [o for _, o, _ in outcomes(session, sender)] == ["declined"]
    later = question(sender, "are you hiring", T0 + 60, intent="ask_question")
    ingest_rasa_events(session=session, events=[later, pause], actor=RASA)
    assert [o for _, o, _ in outcomes(session, sender)] == ["declined", None]
