"""The one delivery worker: messages written outside a turn, sent to the channels that push.

An agent's reply, or a notice from the support desk (a person joined, the bot is back), is
written to the CRM's Interaction table by whichever process made it (the console, in the API
process; interactions.out_of_turn says which messages these are). A channel whose delivery is
PUSH (relay.channels) runs one DeliveryWorker in the process that talks to it, with the
channel's Sender; the worker finds the channel's undelivered messages, oldest first, and for
each one: claims it, sends it, marks it delivered. A failure that may pass (network, flood
control) leaves the message and the later ones for the next round, after the channel's
back-off, so a conversation's messages never overtake each other; a message the recipient can
never receive (Undeliverable: blocked bot, deleted chat) is logged and counted as delivered.

At-least-once: the claim (Interaction.delivered_at) and the send share one transaction,
committed only after the channel accepted the message. A failed send rolls the claim back, so
the message is retried; only a crash (or a failed commit) between the channel's answer and our
commit sends it twice. We prefer that rare duplicate to at-most-once (commit, then send), where
the same crash would lose a reply the customer is waiting for. While a claim is open, a second
worker's claim waits for it (PostgreSQL row lock, SQLite write lock) and then finds
delivered_at set, so two workers never both send. On SQLite that lock blocks other writers for
one send, which the channel client's own timeouts bound to seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from crm_store import interactions
from relay.channels import Channel, Delivery

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0
SEND_TIMEOUT_SECONDS = 60.0  # past the channel clients' own timeouts; then the claim rolls back


class Undeliverable(Exception):
    """The recipient can never receive this message (blocked the bot, chat gone): no retry."""


class Sender(Protocol):
    """How a channel sends one message to the customer of a conversation."""

    async def send(self, *, conversation_id: str, text: str) -> None:
        """Send text; Undeliverable if retrying cannot help, any other error if it may."""
        ...


@dataclass(frozen=True)
class Outgoing:
    """A message waiting for delivery."""

    interaction_id: int
    conversation_id: str
    text: str


class DeliveryWorker:
    """Claims, sends and marks delivered the out-of-turn messages of one push channel."""

    def __init__(self, *, channel: Channel, sessions: sessionmaker[Session], sender: Sender,
                 poll_seconds: float = POLL_SECONDS,
                 send_timeout: float = SEND_TIMEOUT_SECONDS) -> None:
        if channel.delivery != Delivery.PUSH:
            raise ValueError(f"the {channel.name} channel does not push its messages")
        self.channel = channel
        self.sessions = sessions
        self.sender = sender
        self.poll_seconds = poll_seconds
        self.send_timeout = send_timeout

    async def run(self) -> None:
        """Forever: deliver what is waiting, then wait (the channel's back-off after a failure)."""
        failures = 0
        while True:
            try:
                await self.deliver_once()
                failures, delay = 0, self.poll_seconds
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                delay = self.channel.retry_delay(failures)
                logger.exception("delivering %s messages failed (%d in a row); retrying in %g s",
                                 self.channel.name, failures, delay)
            await asyncio.sleep(delay)

    async def deliver_once(self) -> int:
        """Claim and send every waiting message once, oldest first; how many were sent.

        A transient failure raises, leaving that message and the later ones for the next round.
        """
        loop = asyncio.get_running_loop()
        sent = 0
        for message in await asyncio.to_thread(self._waiting):

            def send(message: Outgoing = message) -> None:
                # The claim's session lives in the worker thread (SQLite connections must stay
                # in theirs); the send runs on the event loop, and the thread waits for it.
                asyncio.run_coroutine_threadsafe(self._send(message), loop).result(
                    timeout=self.send_timeout)

            if await asyncio.to_thread(self._claim_and_send, message.interaction_id, send):
                sent += 1
        return sent

    def _waiting(self) -> list[Outgoing]:
        with self.sessions() as session:
            rows = interactions.list_undelivered(session=session,
                                                               channel=self.channel.name)
            return [Outgoing(row.id, row.conversation_id, row.text) for row in rows]

    def _claim_and_send(self, interaction_id: int, send: Callable[[], None]) -> bool:
        """Claim the message, send it, then commit the claim; False if another worker has it."""
        with self.sessions() as session:  # closing without commit rolls the claim back
            if not interactions.mark_delivered(session=session, interaction_id=interaction_id):
                return False
            send()
            session.commit()
            return True

    async def _send(self, message: Outgoing) -> None:
        try:
            await self.sender.send(conversation_id=message.conversation_id, text=message.text)
        except Undeliverable as error:
            logger.warning("%s message %s to %s not deliverable: %s", self.channel.name,
                           message.interaction_id, message.conversation_id, error)
