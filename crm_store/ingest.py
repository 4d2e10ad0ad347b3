"""Turn Rasa tracker events into Interactions and statuses (read by crm_store.events).

`user` becomes an inbound Interaction, `bot` an outbound one (with its buttons), `pause` and
`resume` status changes through crm_store.support, audited with the given actor; a bot reply
and a pause also say what became of the customer's question (crm_store.faq_outcomes, for
Insights). Each event has
a stable key, so applying it twice logs it once: a customer message is known by its conversation
and message id (the channel's id for it, which the gateway gives Rasa), a bot message by its
conversation, time and text. The `language` slot's changes (the language the bot detected,
actions/languages.py) become the conversation's and its customer's language.

Whether a bot message still has to be delivered depends on the turn it answers: on a channel
that pulls (the widget) the customer got it in the HTTP answer of that turn, unless the gateway
said nobody was waiting (`metadata.in_turn` false: a message replayed after Rasa was down); on
a channel that pushes (Telegram) every bot message goes through the outbox
(bot/channels/delivery.py).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from crm_store import conversations, faq_outcomes, interactions, support
from crm_store.enums import Author, Direction
from crm_store.models import Interaction
from relay import channels, languages
from relay.channels import Delivery

HANDLED_EVENTS = ("user", "bot", "pause", "resume", "slot")
INTENT_CHARS = 200  # Interaction.intent
LANGUAGE_SLOT = "language"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: Any) -> str:
    """Text as the database can store it: a lone surrogate (invalid UTF-8) becomes U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", str(value or ""))


def user_message_key(conversation_id: str, message_id: str) -> str:
    """The dedupe key of a customer message: the same whoever logs it (ingest or the gateway)."""
    return hashlib.sha256(f"{conversation_id}|user|{message_id}".encode()).hexdigest()


def dedupe_key(event: dict[str, Any]) -> str | None:
    """A stable key for one Rasa message event, so a redelivered event is not logged twice."""
    if event.get("event") == "user" and event.get("message_id"):
        return user_message_key(str(event.get("sender_id")), str(event["message_id"]))
    timestamp = event.get("timestamp")
    if timestamp is None:
        return None
    raw = "|".join([str(event.get("sender_id")), str(event.get("event")),
                    repr(float(timestamp)), clean_text(event.get("text"))])
    return hashlib.sha256(raw.encode()).hexdigest()


def channel_of(event: dict[str, Any], conversation_id: str) -> str:
    """The channel of a user event (relay.channels.channel_of, input_channel as the last hint)."""
    metadata = event.get("metadata")
    return channels.channel_of(
        conversation_id, metadata if isinstance(metadata, dict) else None,
        event.get("input_channel"),
    )


def answered_in_turn(user_event: dict[str, Any] | None) -> bool:
    """Whether the gateway was waiting to hand this message's replies to the customer."""
    metadata = (user_event or {}).get("metadata")
    return not (isinstance(metadata, dict) and metadata.get("in_turn") is False)


def apply_event(
    *, session: Session, event: dict[str, Any], actor: str, in_turn: bool = True
) -> bool:
    """Apply one Rasa event (sender_id added); True if it changed something.

    in_turn: whether the turn this event belongs to was answered in the gateway's HTTP
    response (answered_in_turn of the turn's user event).
    """
    kind = event.get("event")
    sender_id = event.get("sender_id")
    if kind not in HANDLED_EVENTS or not isinstance(sender_id, str) or not sender_id:
        return False
    if kind == "pause":
        # Whether or not it changes the status: the handoff action has usually queued the
        # conversation already (crm_store.support) when Rasa's pause arrives.
        faq_outcomes.record_handoff(session=session, conversation_id=sender_id,
                                    at=_timestamp(event))
        # Read late, after an agent handed the conversation back: stale.
        return support.wait_for_person(session=session, conversation_id=sender_id, actor=actor,
                                       at=_timestamp(event))
    if kind == "resume":
        # Read late, after the customer was handed off again (by the action, directly): stale.
        return support.back_to_bot(session=session, conversation_id=sender_id, actor=actor,
                                   at=_timestamp(event))
    if kind == "slot":
        if event.get("name") == LANGUAGE_SLOT and languages.supported(event.get("value")):
            return conversations.set_language(session=session, conversation_id=sender_id,
                                              language=str(event["value"]))
        return False
    key = dedupe_key(event)
    if key is not None and interactions.get_by_key(session=session, dedupe_key=key) is not None:
        return False
    recorded = _record_message(session=session, event=event, sender_id=sender_id,
                               in_turn=in_turn, key=key)
    if kind == "bot":
        _record_outcome(session, recorded, event)
    return True


def ingest_rasa_events(*, session: Session, events: Iterable[Any], actor: str) -> int:
    """Apply a list of Rasa events in order; returns how many changed something (new
    interactions plus status changes), so a redelivered list counts 0."""
    changed = 0
    turns: dict[str, dict[str, Any]] = {}  # sender -> the user event of its current turn
    for event in events:
        if not isinstance(event, dict):
            continue
        if event.get("event") == "user" and isinstance(event.get("sender_id"), str):
            turns[event["sender_id"]] = event
        in_turn = answered_in_turn(turns.get(str(event.get("sender_id"))))
        changed += apply_event(session=session, event=event, actor=actor, in_turn=in_turn)
    return changed


def _timestamp(event: dict[str, Any]) -> datetime | None:
    value = event.get("timestamp")
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


# How much earlier than Rasa's event a customer message may have been received (the gateway
# holds messages while Rasa starts, Telegram's queue keeps them for a day); an older or a later
# time is not believed.
MAX_RECEIVED_BEFORE = timedelta(days=1)


def _received(metadata: dict[str, Any], event: dict[str, Any]) -> datetime | None:
    """When the customer sent the message: the gateway's received_at (metadata), so a message
    Rasa handled late (while it started) is logged before what Relay said meanwhile; Rasa's
    own time if there is none or it is not plausible."""
    handled = _timestamp(event)
    try:
        received = datetime.fromtimestamp(float(metadata["received_at"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        return handled
    if handled is None or not handled - MAX_RECEIVED_BEFORE <= received <= handled:
        return handled
    return received


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


def _buttons(event: dict[str, Any]) -> list[dict[str, str]] | None:
    data = event.get("data")
    raw = data.get("buttons") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        return None
    buttons = [{"title": clean_text(b.get("title") or b.get("payload")),
                "payload": clean_text(b.get("payload") or b.get("title"))}
               for b in raw if isinstance(b, dict) and (b.get("payload") or b.get("title"))]
    return buttons or None


def _record_message(
    *, session: Session, event: dict[str, Any], sender_id: str, in_turn: bool, key: str | None
) -> Interaction:
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
            text=clean_text(event.get("text")),
            channel=channel_of(event, sender_id),
            intent=intent,
            confidence=confidence,
            created_at=_received(metadata, event),
            dedupe_key=key,
        )
    faq_entry_id = metadata.get("faq_entry_id")
    conversation = conversations.get_or_create(session=session, conversation_id=sender_id)
    channel = channels.named(conversation.channel)
    pushed = channel is not None and channel.delivery == Delivery.PUSH
    return interactions.record(
        session=session,
        conversation_id=sender_id,
        direction=Direction.OUTBOUND,
        author=Author.BOT,
        text=clean_text(event.get("text")),
        channel=conversation.channel,
        faq_entry_id=str(faq_entry_id) if faq_entry_id is not None else None,
        created_at=_timestamp(event),
        dedupe_key=key,
        buttons=_buttons(event),
        delivered=in_turn and not pushed,
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
