"""The Telegram bridge: `python -m bot.channels.telegram` (polling or webhook, from settings).

Each chat is a conversation of the TELEGRAM channel (relay.channels): id prefix + chat id.
Text and button clicks go to Rasa's REST channel and the replies come back (buttons as an
inline keyboard). Photos, stickers, voice messages, documents and edits get a polite answer and
are noted in the CRM. A background task sends the agents' replies (written by the console, in
another process) to their chats: the shared DeliveryWorker (bot/channels/delivery.py) with a
TelegramSender.

Webhook mode follows python-telegram-bot's "custom webhook" example: a small Starlette app under
uvicorn checks `X-Telegram-Bot-Api-Secret-Token` (403 otherwise) and queues the update; PTB's
own `run_webhook` would need tornado (python-telegram-bot[webhooks]), which is not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import telegram
from sqlalchemy.orm import Session, sessionmaker
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.channels.delivery import DeliveryWorker, Undeliverable
from bot.channels.inbound import forward_or_store, store_unforwarded
from bot.rasa import BotReply, RasaClient
from relay.channels import TELEGRAM
from relay.settings import Settings, get_settings

logger = logging.getLogger(__name__)

# python-telegram-bot and its HTTP client log the API URL, which carries the token.
LIBRARY_LOGGERS = (telegram.__name__, "httpx", "httpcore")
SEEN_UPDATES_KEPT = 10_000
MAX_TEXT_CHARS = 4000
CALLBACK_DATA_BYTES = 64  # Telegram's limit for InlineKeyboardButton.callback_data
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


@dataclass
class Bridge:
    """What the handlers share: settings, DB sessions, the Rasa client and seen update ids."""

    settings: Settings
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


def keyboard(bridge: Bridge, reply: BotReply) -> InlineKeyboardMarkup | None:
    """Rasa buttons as an inline keyboard, one button per row."""
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(b.title[:64] or b.payload[:64],
                              callback_data=bridge.callback_data(b.payload))]
        for b in reply.buttons
    ])


async def send_replies(context: ContextTypes.DEFAULT_TYPE, chat_id: int,
                       replies: list[BotReply]) -> None:
    """Send the bot's replies to a chat, in order."""
    bridge = bridge_of(context)
    for reply in replies:
        text = (reply.text or "Please choose:")[:MAX_TEXT_CHARS]
        await context.bot.send_message(chat_id=chat_id, text=text,
                                       reply_markup=keyboard(bridge, reply))


async def to_rasa(context: ContextTypes.DEFAULT_TYPE, chat_id: int, text: str) -> None:
    """Forward one customer message to Rasa (or keep it if Rasa is down) and send the replies."""
    bridge = bridge_of(context)
    replies = await forward_or_store(rasa=bridge.rasa, sessions=bridge.sessions,
                                     conversation_id=conversation_id(chat_id),
                                     channel=TELEGRAM.name, text=text[:MAX_TEXT_CHARS])
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
    await note_and_answer(context, message.chat_id, logged, POLITE[kind])


async def edited_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message: Rasa cannot take back a turn, so ask for the text again."""
    message = update.edited_message
    if message is None:
        return
    logged = f"[edited] {message.text or message.caption or ''}".strip()
    await note_and_answer(context, message.chat_id, logged, POLITE["edited"])


async def note_and_answer(context: ContextTypes.DEFAULT_TYPE, chat_id: int, logged: str,
                          answer: str) -> None:
    """Log what the customer sent (Rasa never sees it) and our answer, then send the answer."""
    bridge = bridge_of(context)
    await asyncio.to_thread(store_unforwarded, sessions=bridge.sessions,
                            conversation_id=conversation_id(chat_id), channel=TELEGRAM.name,
                            text=logged, reply=answer)
    await context.bot.send_message(chat_id=chat_id, text=answer)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one error handler: log it, and tell the customer something went wrong."""
    logger.error("Telegram update failed: %s", type(context.error).__name__,
                 exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(
                chat_id=update.effective_chat.id,
                text="Sorry, something went wrong on our side. Please try again in a moment.")


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


class BridgeApplication(Application):  # type: ignore[type-arg]
    """A PTB Application that opens the bridge (DB, Rasa, delivery task) in initialize().

    Doing it here rather than in post_init means `async with application` (tests, the webhook
    runner) gets the same set-up as run_polling.
    """

    relay_settings: Settings
    relay_sessions: sessionmaker[Session] | None = None
    relay_deliver: bool = True

    async def initialize(self) -> None:
        """Initialise PTB, then open the bridge."""
        await super().initialize()
        if "relay" in self.bot_data:
            return
        settings = self.relay_settings
        factory = self.relay_sessions
        owns = factory is None
        if factory is None:
            from crm_store.db import make_engine, make_session_factory

            factory = make_session_factory(make_engine(settings.database_url))
        bridge = Bridge(settings=settings, sessions=factory,
                        rasa=RasaClient(settings.rasa_url, settings.rasa_token), owns_engine=owns)
        self.bot_data["relay"] = bridge
        if self.relay_deliver:
            worker = DeliveryWorker(channel=TELEGRAM, sessions=factory,
                                    sender=TelegramSender(self))
            bridge.delivery_task = asyncio.create_task(worker.run(),
                                                       name="relay-telegram-delivery")

    async def shutdown(self) -> None:
        """Close the bridge, then shut PTB down."""
        bridge: Bridge | None = self.bot_data.pop("relay", None)
        if bridge is not None:
            if bridge.delivery_task is not None:
                bridge.delivery_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await bridge.delivery_task
            await bridge.rasa.aclose()
            if bridge.owns_engine:
                engine = bridge.sessions.kw.get("bind")
                if engine is not None:
                    engine.dispose()
        await super().shutdown()


def build_application(settings: Settings, *, sessions: sessionmaker[Session] | None = None,
                      deliver: bool = True) -> BridgeApplication:
    """The PTB application with all handlers; DB, Rasa client and delivery open on initialize."""
    if not settings.telegram_token:
        raise ValueError("RELAY_TELEGRAM_TOKEN is not set: create a bot with @BotFather "
                         "and put its token there.")
    # httpx logs every request URL at INFO, and the URL contains the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    builder = (ApplicationBuilder().application_class(BridgeApplication)
               .token(settings.telegram_token))
    if settings.telegram_base_url:
        base = settings.telegram_base_url.rstrip("/")
        builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
    application: BridgeApplication = builder.build()  # type: ignore[assignment]
    application.relay_settings = settings
    application.relay_sessions = sessions
    application.relay_deliver = deliver
    application.add_handler(TypeHandler(Update, drop_duplicates), group=-1)
    application.add_handler(CommandHandler("start", start))
    application.add_handler(MessageHandler(filters.UpdateType.EDITED, edited_message))
    application.add_handler(MessageHandler(
        filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, text_message))
    application.add_handler(CallbackQueryHandler(button))
    application.add_handler(MessageHandler(
        filters.UpdateType.MESSAGE & ~filters.TEXT & ~filters.StatusUpdate.ALL, other_message))
    application.add_error_handler(on_error)
    redact_token_in_logs(settings.telegram_token)
    return application


class TokenRedactor(logging.Filter):
    """Replaces the bot token in log records (PTB logs its API URL, token included, at DEBUG)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message without the token; never drops a record."""
        message = record.getMessage()
        if self.token in message:
            record.msg = message.replace(self.token, "<bot-token>")
            record.args = None
        return True


def redact_token_in_logs(token: str) -> None:
    """Attach a TokenRedactor to PTB's and httpx's loggers (filters do not inherit)."""
    redactor = TokenRedactor(token)
    names = [name for name in logging.Logger.manager.loggerDict
             if name.split(".")[0] in LIBRARY_LOGGERS]
    for name in [*LIBRARY_LOGGERS, *names]:
        target = logging.getLogger(name)
        if not any(isinstance(f, TokenRedactor) and f.token == token for f in target.filters):
            target.addFilter(redactor)


def webhook_app(application: Application, secret: str, path: str) -> Any:
    """A Starlette app that queues Telegram's webhook posts; 403 without the right secret."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def receive(request: Request) -> Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return PlainTextResponse("Wrong or missing secret token.", status_code=403)
        try:
            data = await request.json()
            update = Update.de_json(data, application.bot)
        except (ValueError, TypeError, KeyError):
            return PlainTextResponse("The body is not a Telegram update.", status_code=400)
        await application.update_queue.put(update)
        return Response(status_code=200)

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route(path, receive, methods=["POST"]),
                             Route("/healthz", health, methods=["GET"])])


async def run_webhook(application: Application, settings: Settings) -> None:
    """Serve the webhook until interrupted (registers it with Telegram when a URL is set)."""
    import uvicorn

    if not settings.telegram_webhook_secret:
        raise ValueError("RELAY_TELEGRAM_WEBHOOK_SECRET is not set: webhook mode needs it so "
                         "that only Telegram can post updates.")
    server = uvicorn.Server(uvicorn.Config(
        webhook_app(application, settings.telegram_webhook_secret, settings.telegram_webhook_path),
        host=settings.telegram_webhook_listen, port=settings.telegram_webhook_port,
        log_level="warning"))
    async with application:
        if settings.telegram_webhook_url:
            await application.bot.set_webhook(url=settings.telegram_webhook_url,
                                              secret_token=settings.telegram_webhook_secret,
                                              allowed_updates=Update.ALL_TYPES)
        await application.start()
        try:
            await server.serve()
        finally:
            await application.stop()


def check_rasa(settings: Settings) -> None:
    """Warn in one line if Rasa does not answer yet (messages are kept in the CRM meanwhile)."""
    import httpx

    try:
        httpx.get(f"{settings.rasa_url}/", timeout=3)
    except httpx.HTTPError:
        logger.warning("Rasa is not reachable at %s (start it with `make run`); until it is, "
                       "customers' messages are saved in the CRM for an agent", settings.rasa_url)


def main() -> None:
    """Start the bridge in the mode settings.telegram_mode names."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    try:
        application = build_application(settings)
        check_rasa(settings)
        if settings.telegram_mode == "webhook":
            logger.info("Telegram bridge: webhook on %s:%s%s", settings.telegram_webhook_listen,
                        settings.telegram_webhook_port, settings.telegram_webhook_path)
            asyncio.run(run_webhook(application, settings))
        else:
            logger.info("Telegram bridge: polling (Rasa at %s)", settings.rasa_url)
            application.run_polling(allowed_updates=Update.ALL_TYPES)
    except ValueError as error:
        print(f"telegram bridge: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except InvalidToken:
        print("telegram bridge: Telegram refused RELAY_TELEGRAM_TOKEN; check it with @BotFather.",
              file=sys.stderr)
        raise SystemExit(2) from None
    except NetworkError as error:
        print(f"telegram bridge: cannot reach the Bot API ({type(error).__name__}); check the "
              "network or RELAY_TELEGRAM_BASE_URL.", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
