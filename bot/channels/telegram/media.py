"""What the bot cannot read (photos, stickers, voice, documents, edits): a polite answer.

Rasa never sees these, so what the customer sent is noted in the CRM here, and our answer goes
to the outbox like every message to a chat (bot/channels/delivery.py).
"""

from __future__ import annotations

import asyncio

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot.channels.inbound import store_unforwarded
from bot.channels.telegram.state import bridge_of, conversation_id
from relay.channels import TELEGRAM

POLITE = {
    "photo": "Thanks for the photo! I can only read text here, so please describe what it "
             "shows in a message. If a person needs to see it, just ask for one.",
    "sticker": "Nice sticker! I can only read text, though. What can I help you with?",
    "voice": "Thanks! I can't listen to voice messages yet. Could you type your question?",
    "document": "Thanks for the file. I can't open attachments here, so please describe the "
                "problem in a message, and ask for a person if they need to see it.",
    "edited": "I saw you edited a message. I can only answer new messages, so please send "
              "the corrected text again.",
    "other": "Sorry, I can only read text messages. What can I help you with?",
}


def describe(message: Message) -> tuple[str, str]:
    """(what the CRM log says, which polite answer) for a message that is not plain text."""
    caption = f" {message.caption}" if message.caption else ""
    if message.sticker is not None:
        emoji = f" {message.sticker.emoji}" if message.sticker.emoji else ""
        return f"[sticker{emoji}]", "sticker"
    if message.photo:
        return f"[photo]{caption}", "photo"
    if message.voice is not None or message.audio is not None or message.video_note is not None:
        return f"[voice message]{caption}", "voice"
    if message.document is not None:
        name = message.document.file_name or "file"
        return f"[document: {name}]{caption}", "document"
    return f"[unsupported message]{caption}", "other"


async def other_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Photos, stickers, voice, documents: a polite answer, and a note in the CRM log."""
    message = update.message
    if message is None:
        return
    logged, kind = describe(message)
    await note_and_answer(context, update, message.chat_id, logged, POLITE[kind])


async def edited_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message: Rasa cannot take back a turn, so ask for the text again."""
    message = update.edited_message
    if message is None:
        return
    logged = f"[edited] {message.text or message.caption or ''}".strip()
    await note_and_answer(context, update, message.chat_id, logged, POLITE["edited"])


async def note_and_answer(context: ContextTypes.DEFAULT_TYPE, update: Update, chat_id: int,
                          logged: str, answer: str) -> None:
    """Log what the customer sent (Rasa never sees it) and our answer, for the outbox to send."""
    bridge = bridge_of(context)
    await asyncio.to_thread(store_unforwarded, sessions=bridge.sessions,
                            conversation_id=conversation_id(chat_id), channel=TELEGRAM.name,
                            text=logged, reply=answer, reply_in_turn=False,
                            message_id=str(update.update_id))
    await bridge.after_turn()
