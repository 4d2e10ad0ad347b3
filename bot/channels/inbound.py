"""Customer messages in: forward to Rasa, or keep them in the CRM when Rasa cannot be reached.

A message Rasa received is logged by the event broker (bot/relay_broker.py → crm_store.ingest),
so it must not be logged here as well; only what Rasa never saw is written directly.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.orm import Session, sessionmaker

from bot.rasa import BotReply, RasaClient, RasaUnavailable
from crm_store import audit, interactions, support
from crm_store.enums import Author, Direction

logger = logging.getLogger(__name__)

SAVED_FOR_LATER = (
    "Thanks, your message is saved. Our assistant is unavailable right now, "
    "so a person from the Nimbus Drive team will follow up here."
)
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


async def forward_or_store(
    *, rasa: RasaClient, sessions: sessionmaker[Session], conversation_id: str, channel: str,
    text: str,
) -> list[BotReply]:
    """Send a customer message to Rasa; if Rasa is down, keep it and queue it for a person."""
    try:
        return await rasa.send_message(sender=conversation_id, text=text, channel=channel)
    except RasaUnavailable as error:
        logger.warning("%s; keeping the message of %s for an agent", error, conversation_id)
    await asyncio.to_thread(
        store_unforwarded, sessions=sessions, conversation_id=conversation_id, channel=channel,
        text=text, reply=SAVED_FOR_LATER, handoff_reason=UNAVAILABLE_REASON,
    )
    return [BotReply(text=SAVED_FOR_LATER)]
