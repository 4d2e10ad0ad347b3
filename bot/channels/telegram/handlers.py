"""The update handlers: text and buttons to Rasa, the error handler.

Each is `async def x(update, context) -> None` with the bridge in context.bot_data; photos,
documents, stickers and edits are handled in media.py. The inbox processor (polling.py) calls
them for each stored update, in order. Nothing is sent from here: the bot's replies are written
to the CRM by the event path and sent, with their buttons, by the outbox's worker
(delivery.py), like every other message to a chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.orm import Session, sessionmaker
from telegram import Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.channels import inbound
from bot.channels.inbound import Incoming, hand_to_rasa, tell
from bot.channels.telegram.state import (
    WaitingForRasa,
    bridge_of,
    conversation_id,
    long_payload_key,
)
from bot.rasa import RasaUnavailable
from crm_store import ratings
from crm_store.errors import NotFoundError
from crm_store.models import Interaction
from relay import responses
from relay.channels import TELEGRAM

RATING_ACTOR = "service:telegram"  # the customer, through Telegram, in the audit log

logger = logging.getLogger(__name__)



def client_language(update: object) -> str | None:
    """The language of the customer's Telegram app (a hint for a first, short message)."""
    user = update.effective_user if isinstance(update, Update) else None
    return user.language_code if user is not None else None


async def in_language(context: ContextTypes.DEFAULT_TYPE, update: object, chat_id: int,
                      response: str, **values: str) -> str:
    """A domain.yml response's text in the chat's language (for what Rasa does not say),
    placeholders filled from values."""
    bridge = bridge_of(context)
    language = await asyncio.to_thread(inbound.language_of, sessions=bridge.sessions,
                                       conversation_id=conversation_id(chat_id),
                                       hint=client_language(update))
    return responses.text(response, language, **values)


async def to_rasa(update: Update, context: ContextTypes.DEFAULT_TYPE, chat_id: int,
                  text: str) -> None:
    """Hand one customer message to Rasa; WaitingForRasa if it cannot be reached yet."""
    bridge = bridge_of(context)
    message = Incoming(conversation_id=conversation_id(chat_id), channel=TELEGRAM.name,
                       text=text, message_id=str(update.update_id),
                       language_hint=client_language(update),
                       received_at=update.effective_message.date
                       if update.effective_message is not None else None)
    try:
        await hand_to_rasa(rasa=bridge.rasa, sessions=bridge.sessions, message=message)
    except RasaUnavailable as error:
        raise WaitingForRasa(message, error) from error
    await bridge.after_turn()


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: greet through Rasa, so the greeting is logged like any other turn."""
    if update.effective_chat is not None:
        await to_rasa(update, context, update.effective_chat.id, "/greet")


async def text_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text message: to Rasa, replies back."""
    message = update.message
    if message is None or message.text is None:
        return
    await to_rasa(update, context, message.chat_id, message.text)


def _payload(sessions: sessionmaker[Session], data: str) -> str | None:
    """The payload a button's callback_data stands for (a long one from its bot message)."""
    key = long_payload_key(data)
    if key is None:
        return data
    interaction_id, index = key
    with sessions() as session:
        row = session.get(Interaction, interaction_id)
        buttons = (row.buttons or []) if row is not None else []
        return buttons[index].get("payload") if index < len(buttons) else None


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button click: answer the query, remove the keyboard, send the payload to Rasa."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    bridge = bridge_of(context)
    with contextlib.suppress(TelegramError):  # cosmetic: the click is handled either way
        await query.answer()
        if isinstance(query.message, Message):
            with contextlib.suppress(BadRequest):
                await query.edit_message_reply_markup(reply_markup=None)
    payload = await asyncio.to_thread(_payload, bridge.sessions, query.data or "")
    if payload is not None and (score := ratings.score_of(payload)) is not None:
        await _rate(update, context, chat.id, score)
        return
    if payload is None:
        expired = await in_language(context, update, chat.id, "utter_button_expired")
        await asyncio.to_thread(tell, sessions=bridge.sessions,
                                conversation_id=conversation_id(chat.id), channel=TELEGRAM.name,
                                text=expired, in_turn=False)
        await bridge.after_turn()
        return
    await to_rasa(update, context, chat.id, payload)


async def _rate(update: Update, context: ContextTypes.DEFAULT_TYPE, chat_id: int,
                score: int) -> None:
    """A score tapped under the rating request (crm_store.support.hand_back): stored like the
    widget's, thanked for; never sent to Rasa."""
    bridge = bridge_of(context)
    cid = conversation_id(chat_id)

    def store() -> bool:
        try:
            with bridge.sessions.begin() as session:
                ratings.rate(session=session, conversation_id=cid, score=score, comment=None,
                             actor=RATING_ACTOR)
            return True
        except (ratings.NothingToRate, NotFoundError):  # nothing handed back to rate
            return False

    response = "utter_rating_thanks" if await asyncio.to_thread(store) else "utter_button_expired"
    await asyncio.to_thread(tell, sessions=bridge.sessions, conversation_id=cid,
                            channel=TELEGRAM.name, in_turn=False,
                            text=await in_language(context, update, chat_id, response))
    await bridge.after_turn()


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one error handler: a message waiting for Rasa is kept; anything else is logged and
    the customer told something went wrong."""
    bridge = bridge_of(context)
    if isinstance(context.error, WaitingForRasa):
        bridge.waiting = context.error
        return
    logger.error("Telegram update failed: %s", type(context.error).__name__,
                 exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            wrong = await in_language(context, update, update.effective_chat.id,
                                      "utter_something_went_wrong")
            await asyncio.to_thread(tell, sessions=bridge.sessions,
                                    conversation_id=conversation_id(update.effective_chat.id),
                                    channel=TELEGRAM.name, text=wrong, in_turn=False)
        except Exception as error:
            logger.error("could not tell the customer either: %s", error)
        await bridge.after_turn()
