"""The update handlers: text and buttons to Rasa and the replies back, duplicates, errors.

Each is `async def x(update, context) -> None` with the bridge in context.bot_data; photos,
stickers and edits are answered in media.py.
"""

from __future__ import annotations

import contextlib
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.channels.inbound import forward_or_store
from bot.channels.telegram.state import MAX_TEXT_CHARS, Bridge, bridge_of, conversation_id
from bot.rasa import BotReply
from relay.channels import TELEGRAM

logger = logging.getLogger(__name__)


def keyboard(bridge: Bridge, reply: BotReply) -> InlineKeyboardMarkup | None:
    """Rasa buttons as an inline keyboard, one button per row."""
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(b.title[:64] or b.payload[:64],
                              callback_data=bridge.callback_data(b.payload))]
        for b in reply.buttons
    ])


def split_text(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """text in pieces of at most `limit` characters, cut at a line break or space if possible."""
    pieces = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip()
    return [*pieces, text]


async def send_replies(context: ContextTypes.DEFAULT_TYPE, chat_id: int,
                       replies: list[BotReply]) -> None:
    """Send the bot's replies to a chat, in order; a reply over Telegram's limit in parts."""
    bridge = bridge_of(context)
    for reply in replies:
        *first, last = split_text(reply.text or "Please choose:")
        for part in first:
            await context.bot.send_message(chat_id=chat_id, text=part)
        await context.bot.send_message(chat_id=chat_id, text=last,
                                       reply_markup=keyboard(bridge, reply))


async def to_rasa(context: ContextTypes.DEFAULT_TYPE, chat_id: int, text: str) -> None:
    """Forward one customer message to Rasa (or keep it if Rasa is down) and send the replies."""
    bridge = bridge_of(context)
    replies = await forward_or_store(rasa=bridge.rasa, sessions=bridge.sessions,
                                     conversation_id=conversation_id(chat_id),
                                     channel=TELEGRAM.name, text=text)
    await send_replies(context, chat_id, replies)


async def drop_duplicates(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop a repeated update_id (Telegram redelivers when a webhook answer was lost)."""
    if not bridge_of(context).first_time(update.update_id):
        logger.info("update %s already handled; ignoring the repeat", update.update_id)
        raise ApplicationHandlerStop


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: greet through Rasa, so the greeting is logged like any other turn."""
    if update.effective_chat is not None:
        await to_rasa(context, update.effective_chat.id, "/greet")


async def text_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text message: to Rasa, replies back."""
    message = update.message
    if message is None or message.text is None:
        return
    await to_rasa(context, message.chat_id, message.text)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button click: answer the query, remove the keyboard, send the payload to Rasa."""
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    payload = bridge_of(context).payload_of(query.data or "")
    chat = update.effective_chat
    if chat is None:
        return
    if isinstance(query.message, Message):
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(reply_markup=None)
    if payload is None:
        await context.bot.send_message(chat_id=chat.id, text="That button has expired. "
                                       "Please type your question instead.")
        return
    await to_rasa(context, chat.id, payload)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one error handler: log it, and tell the customer something went wrong."""
    logger.error("Telegram update failed: %s", type(context.error).__name__,
                 exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(
                chat_id=update.effective_chat.id,
                text="Sorry, something went wrong on our side. Please try again in a moment.")
