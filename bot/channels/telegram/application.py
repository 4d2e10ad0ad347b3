"""The PTB Application: handlers registered; bridge, inbox processor and outbox opened on
initialize. python-telegram-bot's own Updater is not used: polling.py stores each update before
it is acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.orm import Session, sessionmaker
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.channels.delivery import DeliveryWorker
from bot.channels.telegram import handlers, media
from bot.channels.telegram.delivery import TelegramSender
from bot.channels.telegram.polling import InboxProcessor
from bot.channels.telegram.redact import redact_token_in_logs
from bot.channels.telegram.state import Bridge
from bot.rasa import RasaClient
from relay.channels import TELEGRAM
from relay.settings import Settings


class BridgeConfigError(ValueError):
    """A setting the bridge needs is missing; the message names it and what to set."""


class BridgeApplication(Application):  # type: ignore[type-arg]
    """A PTB Application that opens the bridge (DB, Rasa, delivery task) in initialize().

    Doing it here rather than in post_init means `async with application` (tests, the webhook
    runner) gets the same set-up as run_polling.
    """

    relay_settings: Settings
    relay_sessions: sessionmaker[Session] | None = None
    relay_deliver: bool = True

    async def initialize(self) -> None:
        """Initialise PTB, then open the bridge: inbox processor and outbox worker tasks."""
        await super().initialize()
        if "relay" in self.bot_data:
            return
        settings = self.relay_settings
        factory = self.relay_sessions
        owns = factory is None
        if factory is None:
            from crm_store.db import make_engine, make_session_factory

            factory = make_session_factory(make_engine(settings.database_url))
        rasa = RasaClient(settings.rasa_url, settings.rasa_token, timeout=settings.rasa_timeout)
        bridge = Bridge(sessions=factory, rasa=rasa, owns_engine=owns,
                        max_file_bytes=settings.attachment_max_bytes)
        self.bot_data["relay"] = bridge
        processor = InboxProcessor(self, bridge,
                                   handoff_after=settings.rasa_handoff_after_seconds)
        self.bot_data["relay-inbox"] = processor
        bridge.tasks.append(asyncio.create_task(processor.run(), name="relay-telegram-inbox"))
        if self.relay_deliver:
            bridge.delivery = DeliveryWorker(channel=TELEGRAM, sessions=factory,
                                             sender=TelegramSender(self))
            bridge.tasks.append(asyncio.create_task(bridge.delivery.run(),
                                                    name="relay-telegram-delivery"))

    async def shutdown(self) -> None:
        """Close the bridge, then shut PTB down."""
        bridge: Bridge | None = self.bot_data.pop("relay", None)
        self.bot_data.pop("relay-inbox", None)
        if bridge is not None:
            for task in bridge.tasks:
                task.cancel()
            for task in bridge.tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
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
        raise BridgeConfigError("RELAY_TELEGRAM_TOKEN is not set: create a bot with @BotFather "
                                "and put its token there.")
    # httpx logs every request URL at INFO, and the URL contains the bot token; PTB logs it
    # while the application is built, so the redactor is in place first.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    redact_token_in_logs(settings.telegram_token)
    builder = (ApplicationBuilder().application_class(BridgeApplication)
               .token(settings.telegram_token).updater(None))
    if settings.telegram_base_url:
        base = settings.telegram_base_url.rstrip("/")
        builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
    application: BridgeApplication = builder.build()  # type: ignore[assignment]
    application.relay_settings = settings
    application.relay_sessions = sessions
    application.relay_deliver = deliver
    application.add_handler(CommandHandler("start", handlers.start))
    application.add_handler(MessageHandler(filters.UpdateType.EDITED, media.edited_message))
    application.add_handler(MessageHandler(
        filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, handlers.text_message))
    application.add_handler(CallbackQueryHandler(handlers.button))
    application.add_handler(MessageHandler(
        filters.UpdateType.MESSAGE & ~filters.TEXT & ~filters.StatusUpdate.ALL,
        media.other_message))
    application.add_error_handler(handlers.on_error)
    return application
