"""Webhook mode, after python-telegram-bot's "custom webhook" example.

A small Starlette app under uvicorn checks `X-Telegram-Bot-Api-Secret-Token` (403 otherwise) and
stores the update in the inbox before it answers 200 (so Telegram redelivers it if we die
first; polling.py's InboxProcessor handles it); PTB's own `run_webhook` would need tornado
(python-telegram-bot[webhooks]), which is not installed.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.channels.telegram.application import BridgeConfigError
from bot.channels.telegram.polling import store_updates
from relay.settings import Settings


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
            is_update = isinstance(data, dict) and type(data.get("update_id")) is int
            # refuse what python-telegram-bot cannot read
            update = Update.de_json(data, application.bot) if is_update else None
        except (ValueError, TypeError, KeyError):
            update = None
        if update is None:  # not JSON, or JSON that is not an update object ([], null, 5)
            return PlainTextResponse("The body is not a Telegram update.", status_code=400)
        await asyncio.to_thread(store_updates, application.bot_data["relay"].sessions, [data])
        application.bot_data["relay-inbox"].wake()
        return Response(status_code=200)

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route(path, receive, methods=["POST"]),
                             Route("/healthz", health, methods=["GET"])])


async def run_webhook(application: Application, settings: Settings) -> None:
    """Serve the webhook until interrupted (registers it with Telegram when a URL is set)."""
    import uvicorn

    if not settings.telegram_webhook_secret:
        raise BridgeConfigError("RELAY_TELEGRAM_WEBHOOK_SECRET is not set: webhook mode needs "
                                "it so that only Telegram can post updates.")
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
