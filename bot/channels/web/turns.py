"""The widget's messages on their way to Rasa: stored, in order, held while Rasa starts, replayed.

Each message the widget posts carries its own id (the widget makes one per message and sends
it again when it retries), is stored in the inbox, then forwarded under the conversation's
lock after any older message of the conversation still waiting. If Rasa cannot be reached the
request waits up to settings.rasa_hold_seconds (Rasa takes half a minute to start), then
answers that the assistant will reply in a moment; the Replayer, running in the API,
forwards what waits as soon as Rasa answers, and the replies reach the widget through its
event stream (bot/channels/web/stream.py). A retried post of a message Rasa already handled
gets the replies it got then (Rasa de-duplicates by message id), so nothing is handled twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.channels.inbound import (
    ONE_MOMENT,
    SAVED_FOR_LATER,
    UNAVAILABLE_REASON,
    Incoming,
    hand_to_rasa,
    log_for_person,
    must_go_to_person,
    notice,
    retry_delay,
    tell,
)
from bot.rasa import BotReply, RasaClient, RasaUnavailable
from crm_store import inbox
from crm_store.enums import InboxOutcome
from crm_store.models import InboundMessage, utcnow
from relay.channels import WEB

logger = logging.getLogger(__name__)

REPLAY_SECONDS = 1.0


def incoming(row: InboundMessage) -> Incoming:
    """The stored message as it goes to Rasa."""
    return Incoming(conversation_id=row.conversation_id or "", channel=WEB.name,
                    text=str(row.payload.get("text", "")),
                    message_id=str(row.payload.get("message_id", row.external_id)),
                    language=row.payload.get("language"),
                    language_hint=row.payload.get("language_hint"),
                    received_at=row.received_at)


def inbox_id(conversation_id: str, message_id: str) -> str:
    """The inbox's id of a widget message: the widget's id is unique only in its conversation."""
    return f"{conversation_id}/{message_id}"


class WebTurns:
    """Takes the widget's messages to Rasa (one per API process, on app.state)."""

    def __init__(self, *, rasa: RasaClient, sessions: sessionmaker[Session],
                 hold_seconds: float, handoff_after: float) -> None:
        self.rasa = rasa
        self.sessions = sessions
        self.hold_seconds = hold_seconds
        self.handoff_after = handoff_after
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary())

    def lock(self, conversation_id: str) -> asyncio.Lock:
        """The lock that keeps one conversation's messages in order within this process."""
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[conversation_id] = lock
        return lock

    def _store(self, conversation_id: str, text: str, message_id: str,
               languages: dict[str, str]) -> InboundMessage:
        with self.sessions.begin() as session:
            return inbox.receive(session=session, channel=WEB.name,
                                 external_id=inbox_id(conversation_id, message_id),
                                 conversation_id=conversation_id,
                                 payload={"text": text, "message_id": message_id, **languages})

    def _waiting(self, conversation_id: str, up_to: int) -> list[InboundMessage]:
        with self.sessions() as session:
            return [row for row in inbox.pending(session=session, channel=WEB.name,
                                                 conversation_id=conversation_id)
                    if row.id <= up_to]

    def _done(self, row: InboundMessage, outcome: str) -> None:
        with self.sessions.begin() as session:
            inbox.mark_processed(session=session, message_id=row.id, outcome=outcome)

    def _failed(self, row: InboundMessage, error: Exception) -> None:
        with self.sessions.begin() as session:
            inbox.mark_attempt(session=session, message_id=row.id, error=str(error))

    async def take(self, *, conversation_id: str, text: str, message_id: str,
                   language: str | None = None, language_hint: str | None = None,
                   ) -> list[BotReply]:
        """The widget posted a message: store it, hand it to Rasa in order, the replies.

        language: the customer's choice (the widget's switch); language_hint: the browser's."""
        chosen = {k: v for k, v in (("language", language), ("language_hint", language_hint))
                  if v}
        row = await asyncio.to_thread(self._store, conversation_id, text, message_id, chosen)
        if row.outcome == InboxOutcome.FOR_PERSON:  # sent again after it went to a person
            return [BotReply(text=await asyncio.to_thread(
                notice, SAVED_FOR_LATER, sessions=self.sessions, message=incoming(row)))]
        deadline = time.monotonic() + self.hold_seconds
        async with self.lock(conversation_id):
            tries = 0
            while True:
                waiting = await asyncio.to_thread(self._waiting, conversation_id, row.id)
                earlier = [w for w in waiting if w.id != row.id]
                try:
                    for older in earlier:  # replayed first, their replies out of turn
                        await self._hand_on(older, in_turn=False)
                    return await self._hand_on(row, in_turn=True)
                except RasaUnavailable as error:
                    tries += 1
                    await asyncio.to_thread(self._failed, row, error)
                    if time.monotonic() + retry_delay(tries) > deadline:
                        logger.warning("%s; %s waits for it", error, conversation_id)
                        return await self._answer_later(row)
                    await asyncio.sleep(retry_delay(tries))

    async def _hand_on(self, row: InboundMessage, *, in_turn: bool) -> list[BotReply]:
        replies = await hand_to_rasa(rasa=self.rasa, sessions=self.sessions,
                                     message=incoming(row), in_turn=in_turn)
        await asyncio.to_thread(self._done, row, InboxOutcome.ANSWERED)
        return replies

    async def _answer_later(self, row: InboundMessage) -> list[BotReply]:
        """Rasa did not come back in time: a person takes it, or it waits for the replayer."""
        if await asyncio.to_thread(must_go_to_person, sessions=self.sessions,
                                   conversation_id=row.conversation_id or "",
                                   received_at=row.received_at,
                                   handoff_after=self.handoff_after):
            return [BotReply(text=await asyncio.to_thread(self._for_person, row, True))]
        moment = await asyncio.to_thread(notice, ONE_MOMENT, sessions=self.sessions,
                                         message=incoming(row))
        await asyncio.to_thread(tell, sessions=self.sessions,
                                conversation_id=row.conversation_id or "", channel=WEB.name,
                                text=moment, in_turn=True)
        return [BotReply(text=moment)]

    def _for_person(self, row: InboundMessage, notice_in_turn: bool) -> str:
        said = log_for_person(sessions=self.sessions, message=incoming(row),
                              reason=UNAVAILABLE_REASON, notice_in_turn=notice_in_turn)
        self._done(row, InboxOutcome.FOR_PERSON)
        return said

    def _due(self) -> list[InboundMessage]:
        # Messages whose request has certainly stopped holding them.
        before = utcnow() - timedelta(seconds=self.hold_seconds + 5)
        with self.sessions() as session:
            return inbox.pending(session=session, channel=WEB.name, received_before=before)

    async def replay_once(self) -> int:
        """Hand every message that waits to Rasa, in order; how many went. Stops when Rasa is
        unreachable (RasaUnavailable), except for messages that must go to a person."""
        handed = 0
        for row in await asyncio.to_thread(self._due):
            async with self.lock(row.conversation_id or ""):
                try:
                    await self._hand_on(row, in_turn=False)
                    handed += 1
                except RasaUnavailable as error:
                    await asyncio.to_thread(self._failed, row, error)
                    if await asyncio.to_thread(
                            must_go_to_person, sessions=self.sessions,
                            conversation_id=row.conversation_id or "",
                            received_at=row.received_at, handoff_after=self.handoff_after):
                        await asyncio.to_thread(self._for_person, row, False)
                        continue
                    raise
        return handed

    async def run(self) -> None:
        """Forever: replay what waits, backing off while Rasa cannot be reached."""
        tries = 0
        while True:
            try:
                await self.replay_once()
                tries, delay = 0, REPLAY_SECONDS
            except asyncio.CancelledError:
                raise
            except RasaUnavailable:
                tries += 1
                delay = retry_delay(tries)
            except Exception:
                tries += 1
                delay = retry_delay(tries)
                logger.exception("replaying the widget's waiting messages failed")
            await asyncio.sleep(delay)
