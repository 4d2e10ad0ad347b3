"""Sending out-of-turn messages (agent replies, notices) to chats: the shared worker's Sender."""

from __future__ import annotations

from telegram.error import BadRequest, Forbidden
from telegram.ext import Application

from bot.channels.delivery import Undeliverable
from bot.channels.telegram.state import MAX_TEXT_CHARS, chat_id_of


class TelegramSender:
    """Sends out-of-turn messages to chats for the DeliveryWorker."""

    def __init__(self, application: Application) -> None:
        self.application = application

    async def send(self, *, conversation_id: str, text: str) -> None:
        """Send one message; a chat that cannot receive it is Undeliverable (not retried)."""
        try:
            await self.application.bot.send_message(chat_id=chat_id_of(conversation_id),
                                                    text=text[:MAX_TEXT_CHARS])
        except (Forbidden, BadRequest, ValueError) as error:
            # The customer blocked the bot or the chat is gone: retrying will not help.
            raise Undeliverable(str(error)) from error
