"""Turn raw Rasa tracker events (from bot/relay_broker.py) into Interactions and statuses.

Pause and resume move the conversation through crm_store.support, audited with the actor that
posted the events (the event broker's service token).
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store import conversations, faq_outcomes, interactions, support
from crm_store.enums import Author, Direction
from crm_store.models import Interaction
from relay import channels

HANDLED_EVENTS = ("user", "bot", "pause", "resume")
INTENT_CHARS = 200  # Interaction.intent


def ingest_rasa_events(*, session: Session, events: list[dict[str, Any]], actor: str) -> int:
    """Apply a batch of Rasa events in order; returns how many changed something (new
    interactions plus status changes), so a redelivered batch counts 0."""
    changed = 0
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        sender_id = event.get("sender_id")
        if kind not in HANDLED_EVENTS or not isinstance(sender_id, str) or not sender_id:
            continue
        if kind in ("pause", "resume"):
            changed += _apply_status(session=session, conversation_id=sender_id, kind=kind,
                                     actor=actor)
            if kind == "pause":
                # Whether or not it changed the status: the handoff action has usually queued
                # the conversation already (crm_store.support) when Rasa's pause arrives.
                faq_outcomes.record_handoff(session=session, conversation_id=sender_id,
                                            at=_timestamp(event))
            continue
        before = _existing_id(session, event)
        interaction = _record_message(session=session, event=event, sender_id=sender_id)
        if interaction is not None and interaction.id != before:
            changed += 1
            if kind == "bot":
                _record_outcome(session, interaction, event)
    return changed


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
    """The channel of a user event (relay.channels.channel_of, input_channel as the last hint)."""
    metadata = event.get("metadata")
    return channels.channel_of(
        conversation_id, metadata if isinstance(metadata, dict) else None,
        event.get("input_channel"),
    )


def _timestamp(event: dict[str, Any]) -> datetime | None:
    value = event.get("timestamp")
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _intent(parse: Any) -> tuple[str | None, float | None]:
    """(intent name, confidence) of a user event's parse_data; None for what is malformed."""
    intent = parse.get("intent") if isinstance(parse, dict) else None
    if not isinstance(intent, dict):
        return None, None
    name = intent.get("name")
    confidence = intent.get("confidence")
    try:
        score = float(confidence) if confidence is not None else None
    except (TypeError, ValueError):
        score = None
    if score is not None and not math.isfinite(score):
        score = None
    return (name[:INTENT_CHARS] if isinstance(name, str) else None), score


def _record_message(
    *, session: Session, event: dict[str, Any], sender_id: str
) -> Interaction | None:
    metadata = event.get("metadata") or {}
    if not isinstance(metadata, dict):
        metadata = {}
    if event["event"] == "user":
        intent, confidence = _intent(event.get("parse_data"))
        return interactions.record(
            session=session,
            conversation_id=sender_id,
            direction=Direction.INBOUND,
            author=Author.CUSTOMER,
            text=str(event.get("text") or ""),
            channel=channel_of(event, sender_id),
            intent=intent,
            confidence=confidence,
            created_at=_timestamp(event),
            dedupe_key=dedupe_key(event),
        )
    faq_entry_id = metadata.get("faq_entry_id")
    conversation = conversations.get_or_create(session=session, conversation_id=sender_id)
    return interactions.record(
        session=session,
        conversation_id=sender_id,
        direction=Direction.OUTBOUND,
        author=Author.BOT,
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


def _apply_status(*, session: Session, conversation_id: str, kind: str, actor: str) -> bool:
    """pause → handoff (unless an agent already has it), resume → bot; True if it changed."""
    if kind == "pause":
        return support.wait_for_person(session=session, conversation_id=conversation_id,
                                       actor=actor)
    return support.back_to_bot(session=session, conversation_id=conversation_id, actor=actor)
