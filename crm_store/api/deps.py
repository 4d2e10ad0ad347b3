"""FastAPI dependencies as Annotated aliases: settings, a DB session, the caller and its role.

The composition root (relay.app) keeps settings and the session factory on app.state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from crm_store.api.auth import SYSTEM, Principal, principal_for_token
from crm_store.db import session_scope
from crm_store.enums import Role
from relay.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    """The app's settings (set by relay.app.create_app)."""
    settings: Settings = request.app.state.settings
    return settings


def get_session_factory(request: Request) -> sessionmaker[Session]:
    """The app's session factory (built by the lifespan)."""
    factory: sessionmaker[Session] | None = getattr(request.app.state, "session_factory", None)
    if factory is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The database is not set up: the app was started without its lifespan.",
        )
    return factory


def get_db(request: Request) -> Iterator[Session]:
    """One session per request: committed when the route returns, rolled back on error."""
    with session_scope(get_session_factory(request)) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
# For routes that await something (Rasa, a stream) and hand the factory to a service, which
# does its database work in a thread.
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
# scope="function": commit before the response is sent, so a failed commit is a 500, never a
# 201 for data that was not stored, and a client's next request sees what it just wrote.
SessionDep = Annotated[Session, Depends(get_db, scope="function")]

_bearer = HTTPBearer(auto_error=False)
BearerDep = Annotated[HTTPAuthorizationCredentials, Depends(_bearer)]


def get_principal(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller; 401 without a valid bearer token."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Authentication required: send 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = principal_for_token(
        session=session, settings=settings, token=credentials.credentials
    )
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "The bearer token is invalid or expired; log in again.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_writer(principal: CurrentPrincipal) -> Principal:
    """The caller, if allowed to change data; 403 for viewers."""
    if not principal.can_write:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"Role '{principal.role}' may read but not change data."
        )
    return principal


def require_admin(principal: CurrentPrincipal) -> Principal:
    """The caller, if an admin or the system token; 403 otherwise."""
    if principal.role not in (Role.ADMIN, SYSTEM):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Only admins may do this.")
    return principal


def require_system(principal: CurrentPrincipal) -> Principal:
    """The caller, if it is Relay's own system token (Rasa's event broker); 403 otherwise.

    Service tokens made with `crm_store.users create-token` have a role (agent, viewer) and
    may use the API as that role, but never speak for the bot.
    """
    if principal.kind != "service" or principal.role != SYSTEM:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "Only Relay's system token (RELAY_SERVICE_TOKEN) may call this.",
        )
    return principal


WriterPrincipal = Annotated[Principal, Depends(require_writer)]
AdminPrincipal = Annotated[Principal, Depends(require_admin)]
SystemPrincipal = Annotated[Principal, Depends(require_system)]
