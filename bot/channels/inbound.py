"""Customer messages in: forward to Rasa, or keep them in the CRM when Rasa cannot be reached.

A message Rasa received is logged by the event broker (bot/relay_broker.py → crm_store.ingest),
so it must not be logged here as well; only what Rasa never saw is written directly. What the
gateway says itself is said in the customer's language (the conversation's, from the CRM).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.orm import Session, sessionmaker

from bot.rasa import BotReply, RasaClient, RasaUnavailable
from crm_store import audit, conversations, interactions, support
from crm_store.enums import Author, Direction
from relay import languages, responses

logger = logging.getLogger(__name__)

SAVED_FOR_LATER = "utter_saved_for_later"  # domain.yml
UNAVAILABLE_REASON = "the assistant was unreachable when the customer wrote"
GATEWAY = audit.service_actor("gateway")  # how the audit log names the gateway


def store_unforwarded(
    *, sessions: sessionmaker[Session], conversation_id: str, channel: str, text: str,
    reply: str | None = None, handoff_reason: str | None = None,
) -> None:
    """Log an inbound message Rasa never saw (and our own answer to it, author system)."""
    with sessions.begin() as session:
        interactions.record(session=session, conversation_id=conversation_id,
                            direction=Direction.INBOUND, author=Author.CUSTOMER, text=text,
                            channel=channel)
        if reply:  # answered in the turn: delivered as it is written
            interactions.record(session=session, conversation_id=conversation_id,
                                direction=Direction.OUTBOUND, author=Author.SYSTEM, text=reply,
                                channel=channel, delivered=True)
        if handoff_reason:
            support.wait_for_person(session=session, conversation_id=conversation_id,
                                    reason=handoff_reason, actor=GATEWAY)


def language_of(
    *, sessions: sessionmaker[Session], conversation_id: str, chosen: str | None = None,
    hint: str | None = None,
) -> str:
    """The language to answer a conversation in outside Rasa: the customer's choice, else the
    language the bot last detected (the CRM's), else their client's, else the default."""
    if (code := languages.normalise(chosen)) is not None:
        return code
    with sessions() as session:
        conversation = conversations.get(session=session, conversation_id=conversation_id)
        known = conversation.language if conversation is not None else None
    return known or languages.normalise(hint) or languages.DEFAULT


async def forward_or_store(
    *, rasa: RasaClient, sessions: sessionmaker[Session], conversation_id: str, channel: str,
    text: str, language: str | None = None, language_hint: str | None = None,
) -> list[BotReply]:
    """Send a customer message to Rasa; if Rasa is down, keep it and queue it for a person.

    language: the customer's choice of language (the widget's switch); language_hint: their
    client's language (Accept-Language, Telegram's language_code)."""
    try:
        return await rasa.send_message(sender=conversation_id, text=text, channel=channel,
                                       language=languages.normalise(language),
                                       language_hint=languages.normalise(language_hint))
    except RasaUnavailable as error:
        logger.warning("%s; keeping the message of %s for an agent", error, conversation_id)
    said = await asyncio.to_thread(language_of, sessions=sessions,
                                   conversation_id=conversation_id, chosen=language,
                                   hint=language_hint)
    reply = responses.text(SAVED_FOR_LATER, said)
    await asyncio.to_thread(
        store_unforwarded, sessions=sessions, conversation_id=conversation_id, channel=channel,
        text=text, reply=reply, handoff_reason=UNAVAILABLE_REASON,
    )
    return [BotReply(text=reply)]
