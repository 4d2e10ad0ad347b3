"""Turn raw Rasa tracker events (from bot/relay_broker.py) into Interactions and statuses."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store import conversations, faq_outcomes, interactions
from crm_store.models import CHANNELS, Interaction

HANDLED_EVENTS = ("user", "bot", "pause", "resume")


@dataclass
class IngestResult:
    """What one batch changed: new interactions and the conversations touched."""

    interactions: list[Interaction] = field(default_factory=list)
    conversation_ids: set[str] = field(default_factory=set)
    status_changes: int = 0

    @property
    def count(self) -> int:
        """Interactions created plus status changes applied."""
        return len(self.interactions) + self.status_changes


def ingest_rasa_events(*, session: Session, events: list[dict[str, Any]]) -> int:
    """Apply a batch of Rasa events in order; returns how many changed something."""
    return ingest_rasa_events_detailed(session=session, events=events).count


def ingest_rasa_events_detailed(*, session: Session, events: list[dict[str, Any]]) -> IngestResult:
    """Like ingest_rasa_events, but says which interactions and conversations were touched."""
    result = IngestResult()
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        sender_id = event.get("sender_id")
        if kind not in HANDLED_EVENTS or not isinstance(sender_id, str) or not sender_id:
            continue
        if kind in ("pause", "resume"):
            if _apply_status(session=session, conversation_id=sender_id, kind=kind):
                result.status_changes += 1
                result.conversation_ids.add(sender_id)
                if kind == "pause":
                    faq_outcomes.record_handoff(session=session, conversation_id=sender_id)
            continue
        before = _existing_id(session, event)
        interaction = _record_message(session=session, event=event, sender_id=sender_id)
        if interaction is not None and interaction.id != before:
            result.interactions.append(interaction)
            result.conversation_ids.add(sender_id)
            if kind == "bot":
                _record_outcome(session, interaction, event)
    return result


def _existing_id(session: Session, event: dict[str, Any]) -> int | None:
    key = dedupe_key(event)
    if key is None:
        return None
    return session.scalar(select(Interaction.id).where(Interaction.dedupe_key == key))


def dedupe_key(event: dict[str, Any]) -> str | None:
    """A stable key for one Rasa message event, so a redelivered batch is not logged twice."""
    timestamp = event.get("timestamp")
    if timestamp is None:
        return None
    raw = "|".join(
        [
            str(event.get("sender_id")),
            str(event.get("event")),
            repr(float(timestamp)),
            str(event.get("text") or ""),
        ]
    )
    return hashlib.sha256(raw.encode()).hexdigest()


def channel_of(event: dict[str, Any], conversation_id: str) -> str:
    """The channel of a user event.

    The gateway reaches Rasa through its REST channel, so input_channel is "rest" for web and
    Telegram alike: the gateway's metadata.channel and the id prefix are more specific.
    """
    metadata = event.get("metadata") or {}
    candidates = [
        metadata.get("channel") if isinstance(metadata, dict) else None,
        conversations.channel_for(conversation_id),
        event.get("input_channel"),
    ]
    for candidate in candidates:
        if candidate in CHANNELS and candidate != "rest":
            return str(candidate)
    return "rest"


def _timestamp(event: dict[str, Any]) -> datetime | None:
    value = event.get("timestamp")
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _record_message(
    *, session: Session, event: dict[str, Any], sender_id: str
) -> Interaction | None:
    metadata = event.get("metadata") or {}
    if not isinstance(metadata, dict):
        metadata = {}
    if event["event"] == "user":
        parse = event.get("parse_data") or {}
        intent = (parse.get("intent") or {}) if isinstance(parse, dict) else {}
        confidence = intent.get("confidence")
        return interactions.record(
            session=session,
            conversation_id=sender_id,
            direction="inbound",
            author="customer",
            text=str(event.get("text") or ""),
            channel=channel_of(event, sender_id),
            intent=intent.get("name"),
            confidence=float(confidence) if confidence is not None else None,
            created_at=_timestamp(event),
            dedupe_key=dedupe_key(event),
        )
    faq_entry_id = metadata.get("faq_entry_id")
    conversation = conversations.get_or_create(session=session, conversation_id=sender_id)
    return interactions.record(
        session=session,
        conversation_id=sender_id,
        direction="outbound",
        author="bot",
        text=str(event.get("text") or ""),
        channel=conversation.channel,
        faq_entry_id=str(faq_entry_id) if faq_entry_id is not None else None,
        created_at=_timestamp(event),
        dedupe_key=dedupe_key(event),
    )


def _record_outcome(session: Session, reply: Interaction, event: dict[str, Any]) -> None:
    """What the bot's reply says about the customer's question (crm_store.faq_outcomes)."""
    metadata = event.get("metadata")
    data = event.get("data")
    faq_outcomes.record_reply(
        session=session,
        reply=reply,
        metadata=metadata if isinstance(metadata, dict) else {},
        data=data if isinstance(data, dict) else None,
    )


def _apply_status(*, session: Session, conversation_id: str, kind: str) -> bool:
    """pause → handoff (unless an agent already has it), resume → bot; True if it changed."""
    conversation = conversations.get_or_create(session=session, conversation_id=conversation_id)
    if kind == "pause":
        if conversation.status != "bot":
            return False
        conversations.set_status(session=session, conversation_id=conversation_id, status="handoff")
        return True
    if conversation.status == "bot":
        return False
    conversations.set_status(session=session, conversation_id=conversation_id, status="bot")
    return True
