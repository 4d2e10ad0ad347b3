"""GET /api/v1/conversations/{id}/suggestions: FAQ answers for the customer's last messages."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from crm_store import conversations, suggestions
from crm_store.api.deps import SessionDep, WriterPrincipal
from crm_store.api.knowledge import INDEX_UNAVAILABLE, KnowledgeDep

router = APIRouter(prefix="/conversations", tags=["conversations"])


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


@router.get("/{conversation_id}/suggestions", response_model=SuggestionsOut,
            responses=INDEX_UNAVAILABLE)
def suggest_replies(
    conversation_id: str,
    session: SessionDep,
    _: WriterPrincipal,
    knowledge: KnowledgeDep,
    k: Annotated[int, Query(ge=1, le=10, description="how many suggestions")] = 3,
) -> SuggestionsOut:
    """The top FAQ answers for the customer's last messages, best first (crm_store.suggestions)."""
    conversations.get_or_raise(session=session, conversation_id=conversation_id)
    messages, found = suggestions.suggest(session=session, engine=knowledge.engine(),
                                          conversation_id=conversation_id, k=k)
    return SuggestionsOut(conversation_id=conversation_id, messages=messages,
                          suggestions=[SuggestionOut(**asdict(s)) for s in found])
