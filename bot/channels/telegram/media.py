"""What the bot cannot read (photos, stickers, voice, documents, locations, contacts, edits).

Rasa never sees these, so what the customer sent is noted in the CRM here, in words an agent
can act on (a shared place as its name, address and coordinates, a shared contact as its name
and phone number), and our answer goes to the outbox like every message to a chat
(bot/channels/delivery.py).
"""

from __future__ import annotations

import asyncio

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot.channels.inbound import store_unforwarded
from bot.channels.telegram.handlers import in_language
from bot.channels.telegram.state import bridge_of, conversation_id
from relay.channels import TELEGRAM

# The polite answers are domain.yml responses utter_media_<kind>, in the chat's language.
POLITE = "utter_media_{kind}"


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
    if message.venue is not None:
        venue, spot = message.venue, message.venue.location
        return (f"[place] {venue.title}, {venue.address} "
                f"({spot.latitude:.6f}, {spot.longitude:.6f})", "location")
    if message.location is not None:
        spot = message.location
        return f"[location] {spot.latitude:.6f}, {spot.longitude:.6f}", "location"
    if message.contact is not None:
        contact = message.contact
        name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
        return f"[contact] {name}, {contact.phone_number}", "contact"
    return f"[unsupported message]{caption}", "other"


async def other_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Photos, stickers, voice, documents: a polite answer, and a note in the CRM log."""
    message = update.message
    if message is None:
        return
    logged, kind = describe(message)
    await note_and_answer(context, update, message.chat_id, logged, kind)


async def edited_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message: Rasa cannot take back a turn, so ask for the text again."""
    message = update.edited_message
    if message is None:
        return
    logged = f"[edited] {message.text or message.caption or ''}".strip()
    await note_and_answer(context, update, message.chat_id, logged, "edited")


async def note_and_answer(context: ContextTypes.DEFAULT_TYPE, update: Update, chat_id: int,
                          logged: str, kind: str) -> None:
    """Log what the customer sent (Rasa never sees it) and the polite answer for kind (in the
    chat's language), then send the answer."""
    bridge = bridge_of(context)
    answer = await in_language(context, update, chat_id, POLITE.format(kind=kind))
    await asyncio.to_thread(store_unforwarded, sessions=bridge.sessions,
                            conversation_id=conversation_id(chat_id), channel=TELEGRAM.name,
                            text=logged, reply=answer, reply_in_turn=False,
                            message_id=str(update.update_id))
    await bridge.after_turn()
