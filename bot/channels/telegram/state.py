"""The bridge's state and id mapping: what every handler reaches through context.bot_data."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker
from telegram.ext import ContextTypes

from bot.rasa import RasaClient
from relay.channels import TELEGRAM

SEEN_UPDATES_KEPT = 10_000
MAX_TEXT_CHARS = 4096  # Telegram's limit for one message, in both directions
CALLBACK_DATA_BYTES = 64  # Telegram's limit for InlineKeyboardButton.callback_data


@dataclass
class Bridge:
    """What the handlers share: DB sessions, the Rasa client, seen update ids, long payloads."""

    sessions: sessionmaker[Session]
    rasa: RasaClient
    seen_updates: OrderedDict[int, None] = field(default_factory=OrderedDict)
    long_payloads: OrderedDict[str, str] = field(default_factory=OrderedDict)
    delivery_task: asyncio.Task[None] | None = None
    owns_engine: bool = False

    def first_time(self, update_id: int) -> bool:
        """True the first time an update id is seen (the last SEEN_UPDATES_KEPT are kept)."""
        if update_id in self.seen_updates:
            return False
        self.seen_updates[update_id] = None
        while len(self.seen_updates) > SEEN_UPDATES_KEPT:
            self.seen_updates.popitem(last=False)
        return True

    def callback_data(self, payload: str) -> str:
        """The payload itself, or a short key for payloads over Telegram's 64-byte limit."""
        if len(payload.encode()) <= CALLBACK_DATA_BYTES:
            return payload
        key = "relay:" + hashlib.sha256(payload.encode()).hexdigest()[:32]
        self.long_payloads[key] = payload
        while len(self.long_payloads) > SEEN_UPDATES_KEPT:
            self.long_payloads.popitem(last=False)
        return key

    def payload_of(self, data: str) -> str | None:
        """The payload a button's callback_data stands for."""
        if data.startswith("relay:"):
            return self.long_payloads.get(data)
        return data


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
