"""The Telegram channel: `python -m bot.channels.telegram` (polling or webhook, from settings).

Each chat is a conversation of the TELEGRAM channel (relay.channels): id prefix + chat id.
Every update is stored in the inbox before Telegram is told we have it, then handled in order:
text and button clicks go to Rasa's gateway channel (with the update id, so Rasa handles each
once); photos, stickers, voice messages, documents and edits get a polite answer and are noted
in the CRM. Everything a chat receives — the bot's replies (buttons as an inline keyboard),
agents' replies, notices — goes through the one outbox: the shared DeliveryWorker with a
TelegramSender, with retries, Telegram's retry_after and a failed state.

    state.py        the bridge's state and chat <-> id, long button payloads
    polling.py      getUpdates stored before acknowledged; the inbox processor
    handlers.py     text, buttons, /start, the error handler
    media.py        polite answers to what the bot cannot read
    delivery.py     TelegramSender, for the shared DeliveryWorker
    application.py  the PTB Application: handlers, and the bridge opened on initialize
    redact.py       the bot token kept out of the logs
    webhook.py      webhook mode (Starlette under uvicorn, secret-token check)
    __main__.py     the command line
"""

from bot.channels.telegram.application import BridgeApplication, build_application
from bot.channels.telegram.polling import run_polling
from bot.channels.telegram.state import Bridge
from bot.channels.telegram.webhook import run_webhook, webhook_app

__all__ = ["Bridge", "BridgeApplication", "build_application", "run_polling", "run_webhook",
           "webhook_app"]
