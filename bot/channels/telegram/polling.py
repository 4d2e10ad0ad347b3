"""Updates in: stored before they are acknowledged, handled in order from the inbox.

python-telegram-bot's own poller acknowledges a whole getUpdates batch (the next call's offset)
before its handlers run, so a crash loses what was in flight. Here the Poller stores each batch
in the inbox (crm_store.inbox, keyed by update id) and only then asks for the next one; the
webhook stores an update before it answers Telegram (webhook.py). The InboxProcessor takes the
stored updates oldest first and runs python-telegram-bot's handlers on them: an update is done
when its message reached Rasa (Rasa handles an update id once, so a crash mid-way is safe).
While Rasa cannot be reached, the update stays in the inbox and is tried again with back-off;
the customer is told once that the assistant will answer in a moment. An update that waited
longer than settings.rasa_handoff_after_seconds, or whose chat a person has, goes to a person
instead (bot/channels/inbound.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application

from bot.channels.inbound import (
    ONE_MOMENT,
    UNAVAILABLE_REASON,
    log_for_person,
    must_go_to_person,
    notice,
    retry_delay,
    tell,
)
from bot.channels.telegram.delivery import seconds
from bot.channels.telegram.state import Bridge
from crm_store import inbox
from crm_store.enums import InboxOutcome
from crm_store.models import InboundMessage
from relay.channels import TELEGRAM

logger = logging.getLogger(__name__)

POLL_TIMEOUT = 10  # seconds Telegram holds a getUpdates call open when nothing is new
IDLE_SECONDS = 1.0


def chat_of(payload: dict[str, Any]) -> int | None:
    """The chat an update (as stored) belongs to, if any."""
    for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
        message = payload.get(key)
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return int(message["chat"]["id"])
    query = payload.get("callback_query")
    if isinstance(query, dict):
        message = query.get("message")
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return int(message["chat"]["id"])
        sender = query.get("from")
        if isinstance(sender, dict):
            return int(sender["id"])
    return None


def store_updates(sessions: sessionmaker[Session], updates: list[dict[str, Any]]) -> None:
    """Store updates in the inbox in one transaction (a repeated update id is a no-op)."""
    with sessions.begin() as session:
        for payload in updates:
            chat = chat_of(payload)
            inbox.receive(session=session, channel=TELEGRAM.name,
                          external_id=str(payload["update_id"]), payload=payload,
                          conversation_id=TELEGRAM.conversation_id(chat) if chat else None)


class InboxProcessor:
    """Runs the handlers on the stored updates, oldest first, until cancelled."""

    def __init__(self, application: Application, bridge: Bridge,  # type: ignore[type-arg]
                 *, handoff_after: float) -> None:
        self.application = application
        self.bridge = bridge
        self.handoff_after = handoff_after
        self.told: set[str] = set()  # chats told to wait, since Rasa was last reached
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something was stored: look now rather than at the next idle check."""
        self._wake.set()

    def _pending(self) -> list[InboundMessage]:
        with self.bridge.sessions() as session:
            return inbox.pending(session=session, channel=TELEGRAM.name, limit=100)

    def _finish(self, row: InboundMessage, outcome: str) -> None:
        with self.bridge.sessions.begin() as session:
            inbox.mark_processed(session=session, message_id=row.id, outcome=outcome)

    def _attempt(self, row: InboundMessage, error: Exception) -> None:
        with self.bridge.sessions.begin() as session:
            inbox.mark_attempt(session=session, message_id=row.id, error=str(error))

    async def handle(self, row: InboundMessage) -> bool:
        """Run the handlers on one stored update; False if it must wait for Rasa."""
        update = Update.de_json(row.payload, self.application.bot)
        self.bridge.waiting = None
        await self.application.process_update(update)
        waiting, self.bridge.waiting = self.bridge.waiting, None
        if waiting is None:
            self.told.clear()
            await asyncio.to_thread(self._finish, row, InboxOutcome.ANSWERED)
            return True
        message = waiting.message
        await asyncio.to_thread(self._attempt, row, waiting)
        if await asyncio.to_thread(must_go_to_person, sessions=self.bridge.sessions,
                                   conversation_id=message.conversation_id,
                                   received_at=row.received_at,
                                   handoff_after=self.handoff_after):
            await asyncio.to_thread(log_for_person, sessions=self.bridge.sessions,
                                    message=message, reason=UNAVAILABLE_REASON,
                                    notice_in_turn=False)
            await asyncio.to_thread(self._finish, row, InboxOutcome.FOR_PERSON)
            await self.bridge.after_turn()
            return True
        if message.conversation_id not in self.told:
            self.told.add(message.conversation_id)
            await asyncio.to_thread(tell, sessions=self.bridge.sessions,
                                    conversation_id=message.conversation_id,
                                    channel=TELEGRAM.name, in_turn=False,
                                    text=await asyncio.to_thread(
                                        notice, ONE_MOMENT, sessions=self.bridge.sessions,
                                        message=message))
            await self.bridge.after_turn()
        logger.warning("%s; update %s waits for Rasa", waiting, row.external_id)
        return False

    async def process_once(self) -> bool:
        """Handle the stored updates in order; False if one has to wait for Rasa."""
        for row in await asyncio.to_thread(self._pending):
            if not await self.handle(row):
                return False
        return True

    async def run(self) -> None:
        """Forever: handle what is stored, backing off while Rasa cannot be reached."""
        tries = 0
        while True:
            try:
                tries = 0 if await self.process_once() else tries + 1
            except asyncio.CancelledError:
                raise
            except Exception as error:
                tries += 1
                logger.warning("handling stored Telegram updates failed: %s", error)
            delay = retry_delay(tries) if tries else IDLE_SECONDS
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
                # arrives as the event is set (CPython gh-86296), and the task would run on.
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()


class Poller:
    """getUpdates in a loop: each batch stored before the next call acknowledges it."""

    def __init__(self, application: Application, bridge: Bridge,  # type: ignore[type-arg]
                 processor: InboxProcessor, *, timeout: int = POLL_TIMEOUT) -> None:
        self.application = application
        self.bridge = bridge
        self.processor = processor
        self.timeout = timeout

    async def run(self) -> None:
        """Poll until cancelled; InvalidToken ends it (the token is wrong)."""
        bot = self.application.bot
        await bot.delete_webhook()  # getUpdates is refused while a webhook is set
        # No offset at first: Telegram serves what is not confirmed yet, and the inbox drops an
        # update it already stored. An offset from the inbox's highest id would confirm, unseen,
        # an update whose id is lower: after a week without updates Telegram picks ids at random.
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await bot.get_updates(offset=offset, timeout=self.timeout,
                                                allowed_updates=Update.ALL_TYPES)
            except InvalidToken:
                raise
            except RetryAfter as error:
                await asyncio.sleep(seconds(error.retry_after))
                continue
            except (Conflict, TimedOut, NetworkError) as error:
                failures += 1
                delay = TELEGRAM.retry_delay(failures)
                logger.warning("getUpdates failed (%s); again in %g s", error, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if not updates:
                continue
            await asyncio.to_thread(store_updates, self.bridge.sessions,
                                    [update.to_dict() for update in updates])
            # Only now is the batch acknowledged: the next call's offset passes it.
            offset = max(update.update_id for update in updates) + 1
            self.processor.wake()


async def run_polling(application: Application) -> None:  # type: ignore[type-arg]
    """The bridge in polling mode until SIGINT/SIGTERM (the processor and outbox run with it)."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, main.cancel if main else lambda: None)
    async with application:
        await application.start()
        try:
            bridge: Bridge = application.bot_data["relay"]
            processor: InboxProcessor = application.bot_data["relay-inbox"]
            await Poller(application, bridge, processor).run()
        except asyncio.CancelledError:
            pass
        finally:
            await application.stop()
