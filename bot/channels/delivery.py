"""The one outbox: every message a pushing channel sends to a customer, with its delivery state.

What a channel like Telegram sends is first written to the CRM's Interaction table, by whichever
process made it: the bot's replies (by the event path, from Rasa's tracker store), an agent's
reply or file (the console), a notice from the support desk or the gateway (a person joined, the
assistant will answer in a moment), the polite answer to a photo (interactions.out_of_turn says
which messages these are). A channel whose delivery is PUSH (relay.channels) runs one
DeliveryWorker in the process that talks to it, with the channel's Sender. For each waiting
message, oldest first, the worker claims it, sends it and marks it:

* delivered (delivered_at) once the channel accepted it;
* pending, with the reason and the time of the next try (next_attempt_at), when the failure
  may pass: the network, a server error (the channel's back-off: relay.channels), flood control
  (RetryLater: Telegram's retry_after, which also pauses the whole worker that long). The
  conversation's later messages wait behind it, so they never overtake each other; other
  conversations go on;
* failed (failed_at, delivery_error) when the recipient can never receive it (Undeliverable:
  the customer blocked the bot, the chat is gone) or it was still undelivered after
  GIVE_UP_AFTER. The console shows the state of every message; an agent can try again.

At-least-once: the claim is a lease (next_attempt_at set LEASE_SECONDS ahead, committed before
the send), so two workers never both send and no database lock is held while the channel
answers; a worker that dies mid-send leaves the lease to expire and the message is sent again.
Only a crash between the channel's answer and our commit sends a message twice; we prefer that
rare duplicate to at-most-once (mark, then send), where the same crash loses a reply the
customer is waiting for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from crm_store import attachments, interactions
from crm_store.enums import Author
from crm_store.models import Interaction, utcnow
from relay.channels import Channel, Delivery

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0
SEND_TIMEOUT_SECONDS = 30.0  # past the channel clients' own timeouts
LEASE_SECONDS = 45.0  # longer than a send may take; a dead worker's claim expires after it
GIVE_UP_AFTER = timedelta(hours=24)


class Undeliverable(Exception):
    """The recipient can never receive this message (blocked the bot, chat gone): no retry."""


class RetryLater(Exception):
    """The channel asked us to wait (flood control) before sending anything again."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class OutgoingFile:
    """The file a message carries (an agent's image or PDF), loaded just before it is sent."""

    filename: str
    content_type: str
    data: bytes
    caption: str  # what the agent wrote with it ("" for nothing)


@dataclass(frozen=True)
class Outgoing:
    """A message waiting for delivery."""

    interaction_id: int
    conversation_id: str
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    attempts: int = 0
    not_before: datetime | None = None
    created_at: datetime | None = None
    attachment_id: int | None = None  # the file it carries (crm_store.attachments)
    file: OutgoingFile | None = None  # that file's bytes, once the worker loaded them

    @classmethod
    def of(cls, row: Interaction, attachment_id: int | None = None) -> Outgoing:
        """The message an Interaction row holds."""
        return cls(row.id, row.conversation_id, row.text, list(row.buttons or []),
                   row.delivery_attempts or 0, row.next_attempt_at, row.created_at,
                   attachment_id)


class Sender(Protocol):
    """How a channel sends one message to the customer of a conversation."""

    async def send(self, message: Outgoing) -> None:
        """Send it; Undeliverable if retrying cannot help, RetryLater when told to wait, any
        other error if a later try may work."""
        ...


class DeliveryWorker:
    """Claims, sends and marks the out-of-turn messages of one push channel."""

    def __init__(self, *, channel: Channel, sessions: sessionmaker[Session], sender: Sender,
                 poll_seconds: float = POLL_SECONDS,
                 send_timeout: float = SEND_TIMEOUT_SECONDS,
                 lease_seconds: float = LEASE_SECONDS) -> None:
        if channel.delivery != Delivery.PUSH:
            raise ValueError(f"the {channel.name} channel does not push its messages")
        self.channel = channel
        self.sessions = sessions
        self.sender = sender
        self.poll_seconds = poll_seconds
        self.send_timeout = send_timeout
        self.lease_seconds = lease_seconds
        self.paused_until = 0.0  # monotonic time; the channel's flood control
        self._wake: asyncio.Event | None = None

    def wake(self) -> None:
        """Deliver now rather than at the next poll (something was just written)."""
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        """Forever: deliver what is due, then wait for a wake-up or the next poll."""
        self._wake = asyncio.Event()
        failures = 0
        while True:
            try:
                await self.deliver_once()
                failures, delay = 0, self.poll_seconds
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database, not a send: those are handled per message
                failures += 1
                delay = self.channel.retry_delay(failures)
                logger.warning("delivering %s messages failed (%d in a row): %s; again in %g s",
                               self.channel.name, failures, error, delay)
            delay = max(delay, self.paused_until - time.monotonic())
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
                # arrives as the event is set (CPython gh-86296), and the task would run on.
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()

    async def deliver_once(self) -> int:
        """Send every message that is due once, oldest first; how many were delivered."""
        if time.monotonic() < self.paused_until:
            return 0
        now = utcnow()
        held: set[str] = set()  # conversations whose earlier message is not out yet
        sent = 0
        for message in await asyncio.to_thread(self._waiting):
            if message.conversation_id in held:
                continue
            if message.not_before is not None and message.not_before > now:
                held.add(message.conversation_id)
                continue
            if not await asyncio.to_thread(self._claim, message.interaction_id):
                held.add(message.conversation_id)  # another worker has it
                continue
            outcome = await self._send(message)
            if outcome == "delivered":
                sent += 1
            elif outcome == "later":
                held.add(message.conversation_id)
            elif outcome == "paused":
                break
        return sent

    def _waiting(self) -> list[Outgoing]:
        with self.sessions() as session:
            rows = interactions.list_undelivered(session=session, channel=self.channel.name,
                                                 limit=500)
            files = attachments.for_messages(session=session, interaction_ids=[
                row.id for row in rows if row.author == Author.AGENT])
            return [Outgoing.of(row, files[row.id].id if row.id in files else None)
                    for row in rows]

    def _with_file(self, message: Outgoing, attachment_id: int) -> Outgoing:
        """The message with its file's bytes (only now: they are not held while it waits)."""
        with self.sessions() as session:
            stored = attachments.get(session=session, attachment_id=attachment_id)
            if stored is None:  # erased with its customer since: nothing to send
                return message
            return replace(message, file=OutgoingFile(
                filename=stored.filename, content_type=stored.content_type,
                data=bytes(stored.data),
                caption=attachments.caption_of(message.text, stored.filename)))

    def _claim(self, interaction_id: int) -> bool:
        with self.sessions.begin() as session:
            return interactions.claim_for_delivery(
                session=session, interaction_id=interaction_id,
                until=utcnow() + timedelta(seconds=self.lease_seconds))

    def _mark(self, interaction_id: int, *, error: str | None = None, failed: bool = False,
              not_before: datetime | None = None) -> None:
        with self.sessions.begin() as session:
            if error is None:
                interactions.mark_delivered(session=session, interaction_id=interaction_id)
            elif failed:
                interactions.mark_failed(session=session, interaction_id=interaction_id,
                                         error=error)
            else:
                interactions.mark_retry(session=session, interaction_id=interaction_id,
                                        error=error, not_before=not_before or utcnow())

    async def _send(self, message: Outgoing) -> str:
        """Send one claimed message and record the outcome: delivered, failed, later, paused."""
        name, number = self.channel.name, message.interaction_id
        try:
            if message.attachment_id is not None:
                message = await asyncio.to_thread(self._with_file, message,
                                                  message.attachment_id)
            async with asyncio.timeout(self.send_timeout):  # not wait_for: see run()
                await self.sender.send(message)
        except Undeliverable as error:
            await asyncio.to_thread(self._mark, number, error=str(error), failed=True)
            logger.warning("%s message %s to %s cannot be delivered: %s", name, number,
                           message.conversation_id, error)
            return "failed"
        except RetryLater as error:
            wait = max(error.retry_after, self.channel.retry_delay(1))
            self.paused_until = time.monotonic() + wait
            await asyncio.to_thread(self._mark, number, error=f"flood control: {error}",
                                    not_before=utcnow() + timedelta(seconds=wait))
            logger.warning("%s asked to wait %.0f s (flood control); message %s waits",
                           name, wait, number)
            return "paused"
        except Exception as error:
            tries = message.attempts + 1
            reason = f"{type(error).__name__}: {error}"
            if message.created_at is not None and utcnow() - message.created_at > GIVE_UP_AFTER:
                await asyncio.to_thread(self._mark, number, failed=True,
                                        error=f"gave up after {tries} tries; last: {reason}")
                logger.warning("%s message %s given up after %d tries: %s", name, number, tries,
                               reason)
                return "failed"
            wait = self.channel.retry_delay(tries)
            await asyncio.to_thread(self._mark, number, error=reason,
                                    not_before=utcnow() + timedelta(seconds=wait))
            logger.warning("%s message %s to %s not sent (try %d): %s; again in %g s", name,
                           number, message.conversation_id, tries, reason, wait)
            return "later"
        await asyncio.to_thread(self._mark, number)
        return "delivered"
