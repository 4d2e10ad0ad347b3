"""The bridge's state and id mapping: what every handler reaches through context.bot_data."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker
from telegram.ext import ContextTypes

from bot.channels.delivery import DeliveryWorker
from bot.channels.inbound import Incoming
from bot.rasa import RasaClient
from crm_store import audit
from crm_store.events import consume
from relay.channels import TELEGRAM

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 4096  # Telegram's limit for one message, in both directions


def split_text(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """text in pieces of at most `limit` characters, cut at a line break or space if possible."""
    pieces = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip()
    return [*pieces, text]
CALLBACK_DATA_BYTES = 64  # Telegram's limit for InlineKeyboardButton.callback_data
# A longer payload is found again from the bot message that carried the button.
LONG_PAYLOAD_PREFIX = "relay:"
TELEGRAM_EVENTS = audit.service_actor("telegram-bridge")  # reading Rasa's events after a turn


@dataclass
class Bridge:
    """What the handlers share: DB sessions, the Rasa client, the outbox's worker.

    waiting: set by the error handler when the update being handled could not reach Rasa, so
    the inbox processor (polling.py) keeps it and tries again.
    """

    sessions: sessionmaker[Session]
    rasa: RasaClient
    delivery: DeliveryWorker | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    waiting: WaitingForRasa | None = None
    owns_engine: bool = False
    max_file_bytes: int = 10 * 1024 * 1024  # settings.attachment_max_bytes

    async def after_turn(self) -> None:
        """A turn or a notice was just written: log Rasa's events now and send what is due."""
        try:
            await asyncio.to_thread(consume, sessions=self.sessions, actor=TELEGRAM_EVENTS)
        except Exception as error:  # the API's follower applies them anyway
            logger.warning("reading Rasa's events after a turn failed: %s", error)
        if self.delivery is not None:
            self.delivery.wake()


class WaitingForRasa(Exception):
    """Rasa could not be reached for this message; it stays in the inbox and is tried again."""

    def __init__(self, message: Incoming, error: Exception) -> None:
        super().__init__(str(error))
        self.message = message


def callback_data(interaction_id: int, index: int, payload: str) -> str:
    """A button's callback_data: the payload, or a key to it if over Telegram's 64 bytes."""
    if len(payload.encode()) <= CALLBACK_DATA_BYTES:
        return payload
    return f"{LONG_PAYLOAD_PREFIX}{interaction_id}:{index}"


def long_payload_key(data: str) -> tuple[int, int] | None:
    """(interaction id, button index) of a key made by callback_data, else None."""
    if not data.startswith(LONG_PAYLOAD_PREFIX):
        return None
    number, _, index = data.removeprefix(LONG_PAYLOAD_PREFIX).partition(":")
    if not (number.isdigit() and index.isdigit()):
        return None
    return int(number), int(index)


def conversation_id(chat_id: int) -> str:
    """The Relay conversation id of a Telegram chat."""
    return TELEGRAM.conversation_id(chat_id)


def chat_id_of(conversation: str) -> int:
    """The Telegram chat id in a Telegram conversation id."""
    return int(TELEGRAM.external_id(conversation))


def bridge_of(context: ContextTypes.DEFAULT_TYPE) -> Bridge:
    """The bridge stored in bot_data at start-up."""
    bridge: Bridge = context.application.bot_data["relay"]
    return bridge
