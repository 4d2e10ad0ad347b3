"""The Telegram channel: `python -m bot.channels.telegram` (polling or webhook, from settings).

Each chat is a conversation of the TELEGRAM channel (relay.channels): id prefix + chat id.
Text and button clicks go to Rasa's REST channel and the replies come back (buttons as an
inline keyboard); photos, stickers, voice messages, documents and edits get a polite answer
and are noted in the CRM. The agents' replies (written by the console, in another process)
reach the chats through the shared DeliveryWorker with a TelegramSender.

    state.py        the bridge's state (seen updates, long button payloads) and chat <-> id
    handlers.py     text, buttons, /start, duplicates, the error handler
    media.py        polite answers to what the bot cannot read
    delivery.py     TelegramSender, for the shared DeliveryWorker
    application.py  the PTB Application: handlers, and the bridge opened on initialize
    redact.py       the bot token kept out of the logs
    webhook.py      webhook mode (Starlette under uvicorn, secret-token check)
    __main__.py     the command line
"""

from bot.channels.telegram.application import BridgeApplication, build_application
from bot.channels.telegram.state import Bridge
from bot.channels.telegram.webhook import run_webhook, webhook_app

__all__ = ["Bridge", "BridgeApplication", "build_application", "run_webhook", "webhook_app"]
