"""Reply suggestions: the FAQ answers that fit a conversation's last customer messages.

Each of the customer's last few messages is searched in the FAQ index; hits are merged by entry
(best score wins) and the best few come back with the message they answer, for an agent to
paste into the reply box and edit. The API and the console both serve this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store import conversations
from crm_store.enums import Author
from crm_store.models import Interaction

if TYPE_CHECKING:
    from knowledge.runtime.engine import FaqEngine

LAST_MESSAGES = 3
MIN_SCORE = 0.05  # below this a hit is noise, not a suggestion


@dataclass(frozen=True)
class Suggestion:
    """One FAQ answer and the customer message it answers."""

    entry_id: str
    answer: str
    matched_question: str
    score: float
    for_message: str


def last_customer_messages(*, session: Session, conversation_id: str,
                           n: int = LAST_MESSAGES) -> list[str]:
    """The texts of the customer's last n messages, newest first (button payloads left out)."""
    rows = session.scalars(
        select(Interaction.text)
        .where(Interaction.conversation_id == conversation_id,
               Interaction.author == Author.CUSTOMER, Interaction.note.is_(False))
        .order_by(Interaction.id.desc())
        .limit(n * 2)
    ).all()
    return [t for t in rows if t.strip() and not t.startswith("/")][:n]


def suggest(*, session: Session, engine: FaqEngine, conversation_id: str, k: int = 3
            ) -> tuple[list[str], list[Suggestion]]:
    """(the messages searched, the top k suggestions, best first); NotFoundError if no such
    conversation."""
    conversations.get_or_raise(session=session, conversation_id=conversation_id)
    messages = last_customer_messages(session=session, conversation_id=conversation_id)
    best: dict[str, Suggestion] = {}
    for text in messages:
        for hit in engine.search(text[:1000], k=k):
            known = best.get(hit.entry_id)
            if hit.score >= MIN_SCORE and (known is None or hit.score > known.score):
                best[hit.entry_id] = Suggestion(hit.entry_id, hit.answer, hit.matched_question,
                                                round(hit.score, 4), text)
    return messages, sorted(best.values(), key=lambda s: -s.score)[:k]
