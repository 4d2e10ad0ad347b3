"""What the bot cannot read (photos, stickers, voice, documents, locations, contacts, edits).

Rasa never sees these, so what the customer sent is noted in the CRM here, in words an agent
can act on (a shared place as its name, address and coordinates, a shared contact as its name
and phone number), and our answer goes to the outbox like every message to a chat
(bot/channels/delivery.py).

Photos and documents are files the agent should see: they are downloaded through the Bot API
(getFile, then the file itself), checked like the widget's (an image or a PDF by its bytes, at
most settings.attachment_max_bytes) and stored with the customer's message
(inbound.receive_file), so the console shows them. A file we do not take is noted, and the
customer told why in their language; one Telegram would not hand over gets the polite answer.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.channels import inbound
from bot.channels.inbound import store_unforwarded
from bot.channels.telegram.handlers import client_language, in_language
from bot.channels.telegram.state import bridge_of, conversation_id
from crm_store import attachments
from relay.channels import TELEGRAM

logger = logging.getLogger(__name__)

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
    """Photos and documents: kept for the agent; stickers, voice and the rest: a polite
    answer, and a note in the CRM log."""
    message = update.message
    if message is None:
        return
    if message.photo or message.document is not None:
        await file_message(update, context, message)
        return
    logged, kind = describe(message)
    await note_and_answer(context, update, message.chat_id, logged, kind)


def _file_of(message: Message, max_bytes: int) -> tuple[str, str | None, int | None]:
    """(file id, file name, size Telegram announced) of a photo or document: of a photo, the
    largest size within the limit (else the smallest, refused by its size)."""
    if message.photo:
        fitting = [p for p in message.photo if (p.file_size or 0) <= max_bytes]
        photo = fitting[-1] if fitting else message.photo[0]
        return photo.file_id, "photo.jpg", photo.file_size
    document = message.document
    assert document is not None
    return document.file_id, document.file_name, document.file_size


async def file_message(update: Update, context: ContextTypes.DEFAULT_TYPE,
                       message: Message) -> None:
    """A photo or a document: downloaded, checked and stored for the agent; while the bot has
    the chat it says a person can see it. A file we do not take: why, in the chat's
    language."""
    bridge = bridge_of(context)
    max_bytes = bridge.max_file_bytes
    logged, kind = describe(message)
    file_id, name, announced = _file_of(message, max_bytes)
    try:
        if announced is not None and announced > max_bytes:
            raise attachments.FileTooLarge(max_bytes)  # not downloaded at all
        data = bytes(await (await context.bot.get_file(file_id)).download_as_bytearray())
        await asyncio.to_thread(
            inbound.receive_file, sessions=bridge.sessions,
            conversation_id=conversation_id(message.chat_id), channel=TELEGRAM.name, data=data,
            filename=name, max_bytes=max_bytes, message_id=str(update.update_id),
            caption=message.caption, hint=client_language(update), reply_in_turn=False)
    except attachments.FileRefused as refused:
        response, values = "utter_file_wrong_type", {}
        if isinstance(refused, attachments.FileTooLarge):
            response, values = "utter_file_too_large", {
                "max_size": attachments.human_size(max_bytes)}
        await note_and_answer(context, update, message.chat_id, f"{logged} (not kept: {refused})",
                              kind, response=response, values=values)
        return
    except TelegramError as error:  # Telegram would not hand the file over
        logger.warning("a file from a Telegram chat could not be downloaded: %s", error)
        await note_and_answer(context, update, message.chat_id,
                              f"{logged} (could not be downloaded)", kind)
        return
    await bridge.after_turn()


async def edited_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message: Rasa cannot take back a turn, so ask for the text again."""
    message = update.edited_message
    if message is None:
        return
    logged = f"[edited] {message.text or message.caption or ''}".strip()
    await note_and_answer(context, update, message.chat_id, logged, "edited")


async def note_and_answer(context: ContextTypes.DEFAULT_TYPE, update: Update, chat_id: int,
                          logged: str, kind: str, *, response: str | None = None,
                          values: dict[str, str] | None = None) -> None:
    """Log what the customer sent (Rasa never sees it) and the polite answer for kind (or the
    response given, with its values; in the chat's language), then send the answer."""
    bridge = bridge_of(context)
    answer = await in_language(context, update, chat_id, response or POLITE.format(kind=kind),
                               **(values or {}))
    await asyncio.to_thread(store_unforwarded, sessions=bridge.sessions,
                            conversation_id=conversation_id(chat_id), channel=TELEGRAM.name,
                            text=logged, reply=answer, reply_in_turn=False,
                            message_id=str(update.update_id))
    await bridge.after_turn()
