"""What the channel routes need from the API process: settings, DB sessions and a Rasa client.

The API's app factory (crm_store/api/app.py) keeps settings and a session factory on app.state;
the Rasa client is built on first use and closed by the router lifespan below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from bot.rasa import RasaClient
from relay.settings import Settings, get_settings

_STATE_KEY = "relay_channel_services"


@dataclass
class ChannelServices:
    """Settings, a session factory and a Rasa client shared by the widget gateway and console."""

    settings: Settings
    sessions: sessionmaker[Session]
    rasa: RasaClient
    owns_engine: bool = False


def _build(state: Any) -> ChannelServices:
    settings = getattr(state, "settings", None) or get_settings()
    sessions = None
    for name in ("session_factory", "sessions", "sessionmaker", "SessionLocal"):
        candidate = getattr(state, name, None)
        if isinstance(candidate, sessionmaker):
            sessions = candidate
            break
    owns = sessions is None
    if sessions is None:
        from crm_store.db import make_engine, make_session_factory

        sessions = make_session_factory(make_engine(settings.database_url))
    return ChannelServices(settings=settings, sessions=sessions,
                           rasa=RasaClient(settings.rasa_url, settings.rasa_token),
                           owns_engine=owns)


def services_of(app: Any) -> ChannelServices:
    """The app's channel services, built on first use."""
    existing = getattr(app.state, _STATE_KEY, None)
    if existing is None:
        existing = _build(app.state)
        setattr(app.state, _STATE_KEY, existing)
    return existing


def channel_services(request: Request) -> ChannelServices:
    """FastAPI dependency: the channel services of this app."""
    return services_of(request.app)


@asynccontextmanager
async def channel_lifespan(app: Any) -> AsyncIterator[None]:
    """Close the Rasa client (and an engine we built ourselves) when the app stops."""
    yield
    existing = getattr(app.state, _STATE_KEY, None)
    if existing is not None:
        setattr(app.state, _STATE_KEY, None)
        await existing.rasa.aclose()
        if existing.owns_engine:
            bind = existing.sessions.kw.get("bind")
            if bind is not None:
                bind.dispose()
