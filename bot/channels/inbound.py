"""Customer messages in: handed to Rasa once, in order, and never dropped.

Every channel stores what it receives in the inbox (crm_store.inbox) before it tells the
customer's side it arrived, then hands it to Rasa with the channel's id for it (`message_id`):
Rasa handles an id once, so a retry after a crash is safe. A message Rasa received is logged by
the event path (crm_store.events reads Rasa's tracker store), so it is not logged here.

While Rasa cannot be reached (it is starting, or was killed and is coming back) a message waits
in the inbox and is replayed when Rasa answers; the customer is told once that the assistant
will answer in a moment. Only a message that waited longer than the handoff limit
(settings.rasa_handoff_after_seconds), or that belongs to a conversation a person already has,
is logged here and queued for a person; a message Rasa refuses outright (a 4xx: retrying cannot
help) likewise. Then its dedupe key is the one the event path would give it, so a later replay
to Rasa is not logged twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.channels import backing_out
from bot.rasa import BotReply, RasaClient, RasaRefused, RasaUnavailable
from crm_store import attachments, audit, conversations, interactions, plain_text, support
from crm_store.enums import Author, ConversationStatus, Direction
from crm_store.ingest import user_message_key
from crm_store.models import Interaction, utcnow
from relay import channels, languages, responses

logger = logging.getLogger(__name__)

# What the gateway says itself, in the customer's language (domain.yml responses, notice()).
SAVED_FOR_LATER = "utter_saved_for_later"
ONE_MOMENT = "utter_one_moment"
FILE_KEPT = "utter_file_kept"  # a file came while the bot has the conversation
HANDOFF_WITHDRAWN = "utter_handoff_withdrawn"  # a waiting customer no longer needs a person
WITHDRAWN_NOTE = ("The customer no longer needed a person: back with the assistant, the "
                  "handoff's case closed.")  # for the agents, in the transcript
UNAVAILABLE_REASON = "the assistant was unreachable when the customer wrote"
REFUSED_REASON = "the assistant could not take the customer's message"
GATEWAY = audit.service_actor("gateway")  # how the audit log names the gateway
RETRY_DELAYS = (0.5, 1.0, 2.0, 3.0, 5.0)  # between tries to reach Rasa (the last repeats)


@dataclass(frozen=True)
class Incoming:
    """A customer message on its way to Rasa: where it belongs and the channel's id for it."""

    conversation_id: str
    channel: str
    text: str
    message_id: str  # the channel's id (Telegram update id, widget message id)
    language: str | None = None  # the customer's choice (the widget's switch)
    language_hint: str | None = None  # their client's (Accept-Language, Telegram's language_code)
    # When the customer sent it (the inbox's time, Telegram's date): Rasa may handle it much
    # later (while it starts), and the transcript shows it when it was said.
    received_at: datetime | None = None

    def __post_init__(self) -> None:
        # Whatever the channel: no NUL or control characters reach Rasa or the CRM.
        object.__setattr__(self, "text", plain_text.clean(self.text))


def retry_delay(tries: int) -> float:
    """Seconds before the next try to reach Rasa after `tries` failed ones."""
    return RETRY_DELAYS[min(max(tries, 1), len(RETRY_DELAYS)) - 1]


async def hand_to_rasa(*, rasa: RasaClient, sessions: sessionmaker[Session], message: Incoming,
                       in_turn: bool = True) -> list[BotReply]:
    """Forward the message to Rasa (RasaUnavailable if it cannot be reached); the replies.

    A message Rasa refuses is logged for a person instead (and the customer told). A customer
    waiting for a person who says they no longer need one gets the assistant back (withdraw).
    """
    if backing_out.backs_out(message.text):
        said = await withdraw(rasa=rasa, sessions=sessions, message=message, in_turn=in_turn)
        if said is not None:
            return [BotReply(text=said)]
    try:
        return await rasa.send_message(sender=message.conversation_id, text=message.text,
                                       channel=message.channel, message_id=message.message_id,
                                       in_turn=in_turn,
                                       language=languages.normalise(message.language),
                                       language_hint=languages.normalise(message.language_hint),
                                       received_at=message.received_at)
    except RasaRefused as error:
        logger.error("%s; logging the message for a person", error)
    notice_text = await asyncio.to_thread(log_for_person, sessions=sessions, message=message,
                                          reason=REFUSED_REASON, notice_in_turn=in_turn)
    return [BotReply(text=notice_text)]


def answered_in_turn(channel: str, in_turn: bool) -> bool:
    """Whether a notice reaches the customer in the channel's own answer to their message: on
    a channel that pushes (Telegram) every message goes through the outbox instead."""
    named = channels.named(channel)
    return in_turn and not (named is not None and named.delivery == channels.Delivery.PUSH)


def _record_message(session: Session, message: Incoming) -> None:
    """Log a customer message Rasa does not get, under the key the event path would give it
    (so a later replay to Rasa is not logged twice)."""
    interactions.record(session=session, conversation_id=message.conversation_id,
                        direction=Direction.INBOUND, author=Author.CUSTOMER, text=message.text,
                        channel=message.channel,
                        dedupe_key=user_message_key(message.conversation_id, message.message_id))


def _record_notice(session: Session, message: Incoming, said: str, in_turn: bool) -> None:
    """Log the gateway's own answer to message (delivered in the turn, or by the outbox)."""
    interactions.record(session=session, conversation_id=message.conversation_id,
                        direction=Direction.OUTBOUND, author=Author.SYSTEM, text=said,
                        channel=message.channel,
                        delivered=answered_in_turn(message.channel, in_turn))


def _waiting_for_person(sessions: sessionmaker[Session], conversation_id: str) -> bool:
    with sessions() as session:
        conversation = conversations.get(session=session, conversation_id=conversation_id)
        return conversation is not None and conversation.status == ConversationStatus.HANDOFF


async def withdraw(*, rasa: RasaClient, sessions: sessionmaker[Session], message: Incoming,
                   in_turn: bool) -> str | None:
    """The customer backs out of a request for a person ("never mind": backing_out) while the
    conversation waits in the queue: Rasa answers again, the handoff's case is closed, and the
    customer is told (HANDOFF_WITHDRAWN); the notice's text. None, and the message goes to
    Rasa as any other, if it is not waiting (a person has it: they read it) or Rasa cannot be
    told (then it stays in the queue, as before).

    Rasa is told first and the CRM second, as a resolve does: the other order would leave a
    moment where the CRM says the bot has a conversation Rasa still ignores.
    """
    if not await asyncio.to_thread(_waiting_for_person, sessions, message.conversation_id):
        return None
    resumed_at = utcnow()
    try:
        await rasa.resume(conversation_id=message.conversation_id)
    except RasaUnavailable as error:
        logger.warning("%s backed out of a handoff, but %s", message.conversation_id, error)
        return None
    said = await asyncio.to_thread(_withdrawn, sessions=sessions, message=message,
                                   in_turn=in_turn, resumed_at=resumed_at)
    if said is None:  # a person claimed it in the meantime: theirs, so Rasa is paused again
        try:
            await rasa.pause(conversation_id=message.conversation_id)
        except RasaUnavailable as error:  # the reconciler pauses it once Rasa answers
            logger.warning("%s: could not pause Rasa again: %s", message.conversation_id, error)
    return said


def _withdrawn(*, sessions: sessionmaker[Session], message: Incoming, in_turn: bool,
               resumed_at: datetime) -> str | None:
    """The CRM's half of withdraw: the message, a note for the agents and the notice, in the
    transaction that gives the conversation back; None (nothing written) if a person has it."""
    # In the language of the words themselves if they tell it: the CRM learns the
    # conversation's language from Rasa's events, which may not have been read yet.
    said = responses.text(HANDOFF_WITHDRAWN, language_of(
        sessions=sessions, conversation_id=message.conversation_id,
        chosen=message.language or backing_out.language(message.text),
        hint=message.language_hint))
    with sessions.begin() as session:
        if not support.withdraw_handoff(session=session, conversation_id=message.conversation_id,
                                        actor=GATEWAY, resumed_at=resumed_at):
            return None
        _record_message(session, message)
        interactions.add_note(session=session, conversation_id=message.conversation_id,
                              text=WITHDRAWN_NOTE)
        _record_notice(session, message, said, in_turn)
    return said


def notice(response: str, *, sessions: sessionmaker[Session], message: Incoming) -> str:
    """A notice of the gateway's own (SAVED_FOR_LATER, ONE_MOMENT) in the customer's language
    (language_of: their choice, the conversation's, their client's)."""
    return responses.text(response, language_of(
        sessions=sessions, conversation_id=message.conversation_id, chosen=message.language,
        hint=message.language_hint))


def must_go_to_person(*, sessions: sessionmaker[Session], conversation_id: str,
                      received_at: datetime, handoff_after: float) -> bool:
    """Rasa is unreachable: should this message stop waiting for it and go to a person?

    Yes if it waited longer than handoff_after seconds, or if a person has the conversation
    already (they answer it; Rasa would only log it).
    """
    if utcnow() - received_at > timedelta(seconds=handoff_after):
        return True
    with sessions() as session:
        conversation = conversations.get(session=session, conversation_id=conversation_id)
        return conversation is not None and conversation.status != ConversationStatus.BOT


def log_for_person(*, sessions: sessionmaker[Session], message: Incoming, reason: str,
                   notice_in_turn: bool) -> str:
    """Log a message Rasa will not handle, tell the customer, queue the conversation for a
    person; the notice's text (SAVED_FOR_LATER in their language).

    notice_in_turn: the notice is answered in the channel's HTTP response (else the channel
    delivers it out of turn).
    """
    said = notice(SAVED_FOR_LATER, sessions=sessions, message=message)
    with sessions.begin() as session:
        _record_message(session, message)
        _record_notice(session, message, said, notice_in_turn)
        support.wait_for_person(session=session, conversation_id=message.conversation_id,
                                reason=reason, actor=GATEWAY)
    return said


def tell(*, sessions: sessionmaker[Session], conversation_id: str, channel: str, text: str,
         in_turn: bool) -> None:
    """A notice from Relay to the customer (author system), in the HTTP answer or the outbox."""
    with sessions.begin() as session:
        interactions.record(session=session, conversation_id=conversation_id,
                            direction=Direction.OUTBOUND, author=Author.SYSTEM, text=text,
                            channel=channel, delivered=in_turn)


def store_unforwarded(
    *, sessions: sessionmaker[Session], conversation_id: str, channel: str, text: str,
    reply: str | None = None, reply_in_turn: bool = True, message_id: str | None = None,
) -> None:
    """Log an inbound message Rasa never sees (a photo, an edit) and our answer to it.

    reply_in_turn: the answer is given in the channel's HTTP response; otherwise the channel's
    outbox delivers it. message_id (the channel's id) makes a repeat a no-op.
    """
    key = user_message_key(conversation_id, message_id) if message_id else None
    with sessions.begin() as session:
        if key is not None and interactions.get_by_key(session=session, dedupe_key=key):
            return
        interactions.record(session=session, conversation_id=conversation_id,
                            direction=Direction.INBOUND, author=Author.CUSTOMER, text=text,
                            channel=channel, dedupe_key=key)
        if reply:
            interactions.record(session=session, conversation_id=conversation_id,
                                direction=Direction.OUTBOUND, author=Author.SYSTEM, text=reply,
                                channel=channel, delivered=reply_in_turn)


@dataclass(frozen=True)
class ReceivedFile:
    """A customer's file, stored: its message, the file as attachments.describe gives it (url
    left empty: each door has its own), and our answer if we gave one."""

    interaction_id: int
    text: str
    created_at: datetime
    file: dict[str, Any]
    reply: str | None


def receive_file(
    *, sessions: sessionmaker[Session], conversation_id: str, channel: str, data: bytes,
    filename: str | None, max_bytes: int, message_id: str, caption: str | None = None,
    language: str | None = None, hint: str | None = None, reply_in_turn: bool = True,
) -> ReceivedFile:
    """Store a file a customer sent, with its message (attachments.FileRefused if it is not
    acceptable). Rasa never sees it: it cannot read files. While the bot has the conversation
    the customer is told a person can see it (FILE_KEPT); while a person has it, they see it
    live and nothing is said. A repeated message_id stores and says nothing again."""
    key = user_message_key(conversation_id, message_id)
    said = responses.text(FILE_KEPT, language_of(sessions=sessions,
                                                  conversation_id=conversation_id,
                                                  chosen=language, hint=hint))
    with sessions.begin() as session:
        repeated = interactions.get_by_key(session=session, dedupe_key=key) is not None
        stored = attachments.store(session=session, conversation_id=conversation_id,
                                   channel=channel, data=data, filename=filename,
                                   max_bytes=max_bytes, dedupe_key=key, caption=caption)
        message = session.get_one(Interaction, stored.interaction_id)
        conversation = conversations.get(session=session, conversation_id=conversation_id)
        with_bot = conversation is not None and conversation.status == ConversationStatus.BOT
        reply = said if with_bot and not repeated else None
        if reply is not None:
            interactions.record(session=session, conversation_id=conversation_id,
                                direction=Direction.OUTBOUND, author=Author.SYSTEM, text=reply,
                                channel=channel, delivered=reply_in_turn)
        return ReceivedFile(interaction_id=message.id, text=message.text,
                            created_at=message.created_at,
                            file=attachments.describe(stored, url=""), reply=reply)


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
