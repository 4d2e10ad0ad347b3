"""Satisfaction ratings: a customer's 1-5 score (and an optional comment) for a resolved handoff."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store import audit, conversations, plain_text
from crm_store.enums import CaseType, ConversationStatus
from crm_store.errors import InvalidValue
from crm_store.models import OPEN_CASE_STATUSES, Case, SatisfactionRating, utcnow

ENTITY = "satisfaction_rating"  # in the audit log
SCORES = range(1, 6)
MAX_COMMENT_CHARS = 1000


# The payload of a score button on a channel that shows buttons (Telegram): "/rate_support3".
RATE_PAYLOAD = re.compile(r"^/rate_support([1-5])$")


def score_buttons() -> list[dict[str, str]]:
    """The 1-5 buttons a rating request carries (crm_store.support.hand_back)."""
    return [{"title": "\u2b50" * score, "payload": f"/rate_support{score}"} for score in SCORES]


def score_of(payload: str) -> int | None:
    """The score a button's payload gives, or None if it is not a score button."""
    found = RATE_PAYLOAD.match(payload)
    return int(found.group(1)) if found else None


class NothingToRate(LookupError):
    """The conversation has no resolved handoff to rate."""


def rate(
    *, session: Session, conversation_id: str, score: int, comment: str | None, actor: str
) -> SatisfactionRating:
    """Store the rating of the conversation's latest resolved handoff (a second one replaces
    the first), audited; NothingToRate if no handoff of it was resolved."""
    if score not in SCORES:
        raise InvalidValue("score must be a whole number from 1 to 5.")
    comment = plain_text.clean(comment or "").strip()[:MAX_COMMENT_CHARS] or None
    conversations.get_or_raise(session=session, conversation_id=conversation_id)
    case = session.scalars(
        select(Case)
        .where(Case.conversation_id == conversation_id, Case.type == CaseType.HANDOFF,
               Case.status.not_in(OPEN_CASE_STATUSES))
        .order_by(Case.id.desc())
        .limit(1)
    ).first()
    if case is None:
        raise NothingToRate(f"Conversation {conversation_id} has no resolved handoff to rate.")
    rating = session.scalars(
        select(SatisfactionRating).where(SatisfactionRating.case_id == case.id)).first()
    before = audit.snapshot(rating)
    if rating is None:
        rating = SatisfactionRating(conversation_id=conversation_id, case_id=case.id,
                                    score=score, comment=comment)
        session.add(rating)
    else:
        rating.score, rating.comment, rating.created_at = score, comment, utcnow()
    session.flush()
    audit.record_change(session=session, actor=actor, action="rate", entity=ENTITY, row=rating,
                        before=before)
    return rating


def due(*, session: Session, conversation_id: str) -> bool:
    """True when the conversation is back with the bot after a resolved handoff that has no
    rating yet (the widget asks again when it restores the conversation)."""
    conversation = conversations.get(session=session, conversation_id=conversation_id)
    if conversation is None or conversation.status != ConversationStatus.BOT:
        return False
    case = session.scalars(
        select(Case)
        .where(Case.conversation_id == conversation_id, Case.type == CaseType.HANDOFF)
        .order_by(Case.id.desc())
        .limit(1)
    ).first()
    if case is None or case.status in OPEN_CASE_STATUSES:
        return False
    rated = session.scalars(
        select(SatisfactionRating.id).where(SatisfactionRating.case_id == case.id)).first()
    return rated is None
