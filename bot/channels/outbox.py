"""Agent replies waiting to reach customers, read from the CRM's Interaction table.

Agents' replies are written by the console (any process); the widget stream and the Telegram
bridge find them here, so delivery works across processes without a message bus. The Telegram
bridge claims each reply through Interaction.delivered_at (crm_store.interactions); the widget
stream is per browser, so it keeps its own cursor (see agent_replies_for_stream).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_store.enums import Author, Direction
from crm_store.models import Interaction


def agent_replies_for_stream(
    *, session: Session, conversation_id: str, after_id: int, since: datetime, limit: int = 100
) -> list[Interaction]:
    """A conversation's agent replies (not notes) with id > after_id or created since, by id."""
    return list(session.scalars(
        select(Interaction)
        .where(Interaction.conversation_id == conversation_id,
               or_(Interaction.id > after_id, Interaction.created_at >= since),
               Interaction.author == Author.AGENT, Interaction.direction == Direction.OUTBOUND,
               Interaction.note.is_(False))
        .order_by(Interaction.id).limit(limit)
    ).all())
