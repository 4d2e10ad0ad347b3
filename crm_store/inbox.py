"""The inbox: what channels received, stored before the channel is told it arrived.

A Telegram update is stored before the bridge acknowledges it (the next getUpdates offset, or
the webhook's 200); a widget message before it is forwarded. A message stays pending until it
has been handed to Rasa (bot/channels/inbound.py), so a crash of any process, or Rasa still
starting, delays it instead of losing it; (channel, external_id) makes a redelivered update
or a retried widget post a no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crm_store.db import insert_unless_exists
from crm_store.models import InboundMessage, utcnow


def receive(
    *, session: Session, channel: str, external_id: str, payload: dict[str, Any],
    conversation_id: str | None = None, received_at: datetime | None = None,
) -> InboundMessage:
    """Store a received message (the first copy wins); the stored row."""
    insert_unless_exists(session, InboundMessage, {
        "channel": channel, "external_id": external_id, "conversation_id": conversation_id,
        "payload": payload, "received_at": received_at or utcnow(), "attempts": 0,
    }, ["channel", "external_id"])
    return get_or_raise(session=session, channel=channel, external_id=external_id)


def get_or_raise(*, session: Session, channel: str, external_id: str) -> InboundMessage:
    """The stored message with that channel id (LookupError if none)."""
    row = session.scalars(select(InboundMessage).where(
        InboundMessage.channel == channel, InboundMessage.external_id == external_id)).first()
    if row is None:
        raise LookupError(f"no {channel} message {external_id}")
    return row


def pending(
    *, session: Session, channel: str, conversation_id: str | None = None,
    received_before: datetime | None = None, limit: int = 100,
) -> list[InboundMessage]:
    """Messages not yet handed to Rasa, oldest first (of one conversation, or older than)."""
    stmt = select(InboundMessage).where(InboundMessage.channel == channel,
                                        InboundMessage.processed_at.is_(None))
    if conversation_id is not None:
        stmt = stmt.where(InboundMessage.conversation_id == conversation_id)
    if received_before is not None:
        stmt = stmt.where(InboundMessage.received_at < received_before)
    return list(session.scalars(stmt.order_by(InboundMessage.id).limit(limit)).all())


def mark_processed(*, session: Session, message_id: int, outcome: str) -> None:
    """The message was handed on (outcome: crm_store.enums.InboxOutcome)."""
    session.execute(update(InboundMessage).where(InboundMessage.id == message_id)
                    .values(processed_at=utcnow(), outcome=outcome))


def mark_attempt(*, session: Session, message_id: int, error: str) -> None:
    """A try to hand the message on failed in a way that may pass (Rasa down): note it."""
    session.execute(update(InboundMessage).where(InboundMessage.id == message_id)
                    .values(attempts=InboundMessage.attempts + 1, last_error=error[:1000]))


def count_pending(*, session: Session, channel: str) -> int:
    """How many messages of channel wait to be handed to Rasa."""
    return session.scalar(select(func.count()).select_from(InboundMessage).where(
        InboundMessage.channel == channel, InboundMessage.processed_at.is_(None))) or 0
