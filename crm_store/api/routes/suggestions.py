"""GET /api/v1/conversations/{id}/suggestions: FAQ answers for the customer's last messages.

For agents in a handed-off conversation: each of the customer's last few messages is searched
in the FAQ index, hits are merged by entry (best score wins) and the best few come back with
the message they answer, ready to paste into the reply box and edit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from crm_store import conversations
from crm_store.api.deps import SessionDep, WriterPrincipal
from crm_store.api.knowledge import KnowledgeDep
from crm_store.models import Interaction

router = APIRouter(prefix="/conversations", tags=["conversations"])

LAST_MESSAGES = 3
MIN_SCORE = 0.05  # below this a hit is noise, not a suggestion


class SuggestionOut(BaseModel):
    entry_id: str
    answer: str
    matched_question: str
    score: float
    for_message: str


class SuggestionsOut(BaseModel):
    conversation_id: str
    messages: list[str]
    suggestions: list[SuggestionOut]


def last_customer_messages(session: SessionDep, conversation_id: str, n: int) -> list[str]:
    """The texts of the customer's last n messages, newest first (button payloads left out)."""
    from sqlalchemy import select

    rows = session.scalars(
        select(Interaction.text)
        .where(Interaction.conversation_id == conversation_id, Interaction.author == "customer",
               Interaction.note.is_(False))
        .order_by(Interaction.id.desc())
        .limit(n * 2)
    ).all()
    return [t for t in rows if t.strip() and not t.startswith("/")][:n]


@router.get("/{conversation_id}/suggestions", response_model=SuggestionsOut)
def suggest_replies(
    conversation_id: str,
    session: SessionDep,
    _: WriterPrincipal,
    knowledge: KnowledgeDep,
    k: Annotated[int, Query(ge=1, le=10, description="how many suggestions")] = 3,
) -> SuggestionsOut:
    """The top FAQ answers for the customer's last messages, best first."""
    conversations.get_or_raise(session=session, conversation_id=conversation_id)
    messages = last_customer_messages(session, conversation_id, LAST_MESSAGES)
    engine = knowledge.engine() if messages else None
    best: dict[str, SuggestionOut] = {}
    for text in messages:
        for hit in engine.search(text[:1000], k=k) if engine else []:
            if hit.score < MIN_SCORE:
                continue
            known = best.get(hit.entry_id)
            if known is None or hit.score > known.score:
                best[hit.entry_id] = SuggestionOut(
                    entry_id=hit.entry_id, answer=hit.answer, matched_question=hit.matched_question,
                    score=round(hit.score, 4), for_message=text)
    ranked = sorted(best.values(), key=lambda s: -s.score)[:k]
    return SuggestionsOut(conversation_id=conversation_id, messages=messages, suggestions=ranked)
