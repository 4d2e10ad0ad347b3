"""The composition root: the FastAPI app, built from its parts.

Run with `uvicorn --factory relay.app:create_app`. The database must be migrated first
(`python -m crm_store.migrate`); the app never creates tables itself.

    crm_store.api   /healthz, /internal (Rasa's events), /api/v1 (the CRM API)
    console         /console (the agent console and its Insights page)
    bot.channels    the channels served over HTTP: the website widget (/, /widget.js, /chat)
    relay.devmail   /dev/mail: the mail Relay sent, in development only (404 elsewhere)

The parts share what the lifespan builds, kept on app.state and read through FastAPI
dependencies: `settings`, `session_factory` (crm_store.api.deps), `rasa` (bot.rasa, the client
the console hands conversations back with), `web_turns` (bot.channels.web.turns, which takes
the widget's messages to Rasa), `knowledge` (crm_store.api.knowledge: the FAQ engine for reply
suggestions and knowledge gaps, loaded on first use), `login_throttle`
(crm_store.login_throttle, counted in Redis when RELAY_REDIS_URL is set), `chat_limit` (the
widget's rate limit, crm_store.counters) and `changes` (crm_store.changes: the one reader per
process that wakes event streams when the database changes). No part imports another's routes,
and nothing here is built at import.

The lifespan also runs the API's background work, stopped with it: the event follower (Rasa's
events into the CRM, crm_store.events), the widget's replayer (messages that waited while Rasa
was down), the reconciler (the CRM's handoff status against Rasa's pause state) and, when
RELAY_RETENTION_DAYS is set, the hourly retention purge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from bot.channels import web
from bot.channels.web.turns import WebTurns
from bot.rasa import RasaClient
from console import insights as console_insights
from console import routes as console_routes
from crm_store import audit, counters, privacy
from crm_store.api import errors
from crm_store.api.knowledge import KnowledgeService
from crm_store.api.limits import BodySizeLimitMiddleware
from crm_store.api.routes import health, internal, v1
from crm_store.api.security_headers import SecurityHeadersMiddleware
from crm_store.changes import ChangeFeed
from crm_store.db import make_engine, make_session_factory
from crm_store.events import RASA_EVENTS, EventFollower
from crm_store.login_throttle import LoginThrottle
from crm_store.support import Reconciler
from relay import devmail
from relay.settings import Settings, get_settings

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 1024 * 1024
# Channels with HTTP routes in this app. The Telegram bridge runs as its own process
# (relay/stack.py); a channel with a webhook here would add its router to this tuple.
CHANNEL_ROUTERS = (web.router,)


RETENTION_EVERY_SECONDS = 3600.0


async def _retention(sessions: sessionmaker[Session], days: int) -> None:
    """Delete conversations older than the retention setting, hourly (idempotent per worker)."""
    def purge() -> int:
        with sessions.begin() as session:
            return privacy.purge_conversations(session=session, older_than_days=days,
                                               actor=audit.service_actor("retention"))

    while True:
        try:
            purged = await asyncio.to_thread(purge)
            if purged:
                logger.info("retention: %d conversations older than %d days deleted", purged, days)
        except Exception:  # the next hour tries again; the error is logged with its cause
            logger.exception("retention: the purge failed")
        await asyncio.sleep(RETENTION_EVERY_SECONDS)


def create_app(
    settings: Settings | None = None, *, console: bool = True, channels: bool = True
) -> FastAPI:
    """The app; console=False / channels=False leave those parts out (the CRM API alone)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        sessions = app.state.session_factory = make_session_factory(engine)
        rasa = app.state.rasa = RasaClient(settings.rasa_url, settings.rasa_token,
                                           timeout=settings.rasa_timeout)
        app.state.changes = ChangeFeed(engine)
        await app.state.changes.start()
        app.state.counter = counters.connect(settings.redis_url)
        app.state.login_throttle = LoginThrottle(counter=app.state.counter)
        app.state.chat_limit = counters.RateLimit(counter=app.state.counter, name="chat",
                                                  per_minute=settings.chat_rate_per_minute)
        app.state.knowledge = KnowledgeService(settings)
        turns = app.state.web_turns = WebTurns(
            rasa=rasa, sessions=sessions, hold_seconds=settings.rasa_hold_seconds,
            handoff_after=settings.rasa_handoff_after_seconds)
        work = [EventFollower(sessions=sessions, actor=RASA_EVENTS).run(),
                Reconciler(sessions=sessions, bot=rasa).run()]
        if channels:
            work.append(turns.run())
        if settings.retention_days > 0:
            work.append(_retention(sessions, settings.retention_days))
        tasks = [asyncio.create_task(job) for job in work]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            app.state.session_factory = None
            await app.state.changes.stop()
            app.state.knowledge = None
            await rasa.aclose()
            app.state.counter.close()
            engine.dispose()

    app = FastAPI(
        title="Relay CRM API",
        version="1",
        description="Customers, leads, cases and conversation logs behind the Relay chatbot.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.session_factory = None
    app.state.knowledge = None
    app.state.login_throttle = LoginThrottle()  # shared by the API's and the console's login
    app.state.chat_limit = counters.RateLimit(counter=counters.MemoryCounter(), name="chat",
                                              per_minute=settings.chat_rate_per_minute)
    # A customer's file may be larger than any other body (bot.channels.web's upload route).
    # So may an agent's, sent from the console (a form: its fields and boundaries on top).
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=MAX_BODY_BYTES,
                       larger=[(web.UPLOAD_PATH, settings.attachment_max_bytes,
                                web.CORS_HEADERS),
                               (console_routes.FILE_PATH,
                                settings.attachment_max_bytes + MAX_BODY_BYTES, {})])
    app.add_middleware(SecurityHeadersMiddleware)
    errors.add_error_handlers(app)
    app.include_router(health.router)
    app.include_router(internal.router, responses=errors.COMMON_ERRORS)
    app.include_router(v1.router, responses=errors.COMMON_ERRORS)
    if console:
        app.include_router(console_routes.router, responses=errors.COMMON_ERRORS)
        app.include_router(console_insights.router, responses=errors.COMMON_ERRORS)
    if channels:
        for router in CHANNEL_ROUTERS:
            app.include_router(router, responses=errors.COMMON_ERRORS)
    app.include_router(devmail.router)
    errors.document_error_bodies(app)
    return app
