"""What became of a customer's question at the FAQ search: answered, clarify or declined.

The ingest (crm_store.ingest) calls these as Rasa's events arrive. The outcome is stored on the
customer's message (Interaction.faq_outcome, faq_score), so the Insights figures and the
knowledge-gap miner read it with one column instead of re-reading transcripts.

The bot's reply says what happened. Preferred: the FAQ action puts ``faq_outcome`` (and
``faq_score``, the top hit's calibrated score) in the message metadata. Until it does, the
outcome is read from what the reply is: an answer carries ``faq_entry_id``; a "did you mean"
offers ``/choose_faq`` buttons; a decline is the ``utter_not_sure`` or ``utter_out_of_scope``
response, or a handoff straight after a question the FAQ search could not answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.enums import Author, FaqOutcome
from crm_store.models import FAQ_OUTCOMES, Interaction

# The responses that say the FAQ search found nothing: "not sure" (a person is offered), and the
# out-of-scope reply the dialogue gives an unrelated question the FAQ could not answer either.
DECLINE_RESPONSES = ("utter_not_sure", "utter_out_of_scope")
CLARIFY_PAYLOAD = "/choose_faq"
# Intents whose messages the dialogue sends to the FAQ search (bot/data/rules.yml); a handoff
# right after one of them means the search could not answer it.
QUESTION_INTENTS = ("ask_question", "out_of_scope", "nlu_fallback")
# A customer message with one of these intents asks for a person.
PERSON_INTENTS = ("ask_human",)


def outcome_of_reply(metadata: dict[str, Any], data: dict[str, Any] | None) -> str | None:
    """The FAQ outcome a bot message stands for, or None if it is not a FAQ reply."""
    stated = metadata.get("faq_outcome")
    if stated in FAQ_OUTCOMES:
        return str(stated)
    if metadata.get("faq_entry_id"):
        return FaqOutcome.ANSWERED
    buttons = (data or {}).get("buttons") or metadata.get("buttons") or []
    if any(
        isinstance(b, dict) and str(b.get("payload", "")).startswith(CLARIFY_PAYLOAD)
        for b in buttons
    ):
        return FaqOutcome.CLARIFY
    if metadata.get("utter_action") in DECLINE_RESPONSES:
        return FaqOutcome.DECLINED
    return None


def _score(metadata: dict[str, Any]) -> float | None:
    value = metadata.get("faq_score")
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _last_question(session: Session, conversation_id: str, before_id: int | None,
                   until: datetime | None = None) -> Interaction | None:
    stmt = select(Interaction).where(
        Interaction.conversation_id == conversation_id,
        Interaction.author == Author.CUSTOMER,
        Interaction.note.is_(False),
    )
    if before_id is not None:
        stmt = stmt.where(Interaction.id < before_id)
    if until is not None:
        stmt = stmt.where(Interaction.created_at <= until)
    return session.scalars(stmt.order_by(Interaction.id.desc()).limit(1)).first()


def record_reply(
    *, session: Session, reply: Interaction, metadata: dict[str, Any],
    data: dict[str, Any] | None = None,
) -> Interaction | None:
    """Mark the customer's message this bot reply answers; returns it if it was marked."""
    outcome = outcome_of_reply(metadata, data)
    if outcome is None:
        return None
    question = _last_question(session, reply.conversation_id, reply.id)
    # A "did you mean" choice is a button press, not a question: its answer stays on the
    # original question's clarify. The first outcome recorded for a message stands.
    if question is None or question.faq_outcome is not None or question.intent == "choose_faq":
        return None
    question.faq_outcome = outcome
    question.faq_score = _score(metadata)
    session.flush()
    return question


def record_handoff(
    *, session: Session, conversation_id: str, at: datetime | None = None
) -> Interaction | None:
    """A handoff (at that time, if known) right after a question nobody answered declines it.

    Called for each of Rasa's pause events; a redelivered one changes nothing, since the
    question's outcome is set once and `at` keeps later questions out.
    """
    question = _last_question(session, conversation_id, None, at)
    if question is None or question.faq_outcome is not None:
        return None
    if question.intent not in QUESTION_INTENTS:
        return None
    question.faq_outcome = FaqOutcome.DECLINED
    session.flush()
    return question
