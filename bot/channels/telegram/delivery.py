"""Sending the outbox's messages to chats: the shared DeliveryWorker's Sender for Telegram.

Every message to a chat goes this way: the bot's replies (with their buttons as an inline
keyboard), agents' replies and files (a photo or a document), notices. Telegram's answers
become the worker's outcomes: 429 with retry_after is RetryLater (the worker waits that long),
"Forbidden: bot was blocked by the user", a deleted chat or any other refusal of the message
itself is Undeliverable (a failed delivery the console shows), and network errors or 5xx are
retried with back-off.
"""

from __future__ import annotations

from datetime import timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter
from telegram.ext import Application

from bot.channels.delivery import Outgoing, OutgoingFile, RetryLater, Undeliverable
from bot.channels.telegram.state import callback_data, chat_id_of, split_text

MAX_SEND_CHARS = 4096  # Telegram's limit for one message
MAX_CAPTION_CHARS = 1024  # and for a photo's or document's caption
PHOTO_TYPES = {"image/jpeg", "image/png"}  # sent with sendPhoto; other files with sendDocument
CHOOSE = "Please choose:"  # Telegram needs text with a keyboard


def keyboard(message: Outgoing) -> InlineKeyboardMarkup | None:
    """The message's buttons as an inline keyboard, one button per row."""
    if not message.buttons:
        return None
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(
            (button.get("title") or button.get("payload") or "?")[:64],
            callback_data=callback_data(message.interaction_id, index,
                                        button.get("payload") or button.get("title") or ""))]
        for index, button in enumerate(message.buttons)
    ])


def seconds(value: int | float | timedelta) -> float:
    """retry_after as seconds (python-telegram-bot gives an int or a timedelta)."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    """Sends the outbox's messages to chats for the DeliveryWorker."""

    def __init__(self, application: Application) -> None:  # type: ignore[type-arg]
        self.application = application

    async def send(self, message: Outgoing) -> None:
        """Send one message (see the module doc for what each refusal becomes)."""
        chat = chat_id_of(message.conversation_id)
        try:
            if message.file is not None:
                await self._send_file(chat, message.file)
                return
            # A reply over Telegram's limit goes in parts, the buttons with the last one.
            *first, last = split_text(message.text or (CHOOSE if message.buttons else ""),
                                      MAX_SEND_CHARS)
            for part in first:
                await self.application.bot.send_message(chat_id=chat, text=part)
            await self.application.bot.send_message(chat_id=chat, text=last,
                                                    reply_markup=keyboard(message))
        except RetryAfter as error:
            raise RetryLater(error.message, seconds(error.retry_after)) from error
        except (Forbidden, BadRequest, ChatMigrated, ValueError) as error:
            # The customer blocked the bot, the chat is gone, or Telegram refuses this message
            # as it is: sending it again will not help.
            raise Undeliverable(str(error)) from error

    async def _send_file(self, chat: int, file: OutgoingFile) -> None:
        """An agent's file: JPEG and PNG as a photo (shown in the chat), GIF, WebP and PDF as a
        document (kept as sent); the caption with it, or after it when over Telegram's limit."""
        bot = self.application.bot
        upload = InputFile(file.data, filename=file.filename)
        caption = file.caption if len(file.caption) <= MAX_CAPTION_CHARS else None
        if file.content_type in PHOTO_TYPES:
            await bot.send_photo(chat_id=chat, photo=upload, caption=caption)
        else:
            await bot.send_document(chat_id=chat, document=upload, caption=caption)
        if file.caption and caption is None:
            for part in split_text(file.caption, MAX_SEND_CHARS):
                await bot.send_message(chat_id=chat, text=part)
