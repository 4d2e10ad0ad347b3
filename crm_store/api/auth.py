"""Who is calling, for the CRM API and the agent console alike.

- Logging in (both login forms): password check, throttle after repeated failures, role check.
- The API's bearer tokens: signed user tokens, hashed service tokens, the built-in system token.
- The console's session: a signed cookie with the user id and a CSRF token.

Either way the caller is a Principal, whose `actor` names it in the audit log.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from crm_store import audit, users
from crm_store.enums import Role
from crm_store.login_throttle import LoginThrottle
from crm_store.models import User
from relay.settings import Settings

TOKEN_SALT = "relay-api-token"
TOKEN_MAX_AGE_SECONDS = 12 * 3600
SYSTEM = "system"  # the role and name of the built-in service token (settings.service_token)
WRITE_ROLES = (Role.AGENT, Role.MANAGER, Role.ADMIN, SYSTEM)
CONSOLE_ROLES = (Role.AGENT, Role.MANAGER, Role.ADMIN)
# Who sees the whole team's Insights; an agent sees only their own figures.
TEAM_INSIGHT_ROLES = (Role.MANAGER, Role.ADMIN, Role.VIEWER, SYSTEM)
COOKIE_NAME = "relay_console"
COOKIE_SALT = "relay-console-session"
COOKIE_MAX_AGE_SECONDS = TOKEN_MAX_AGE_SECONDS


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user (agent/manager/admin/viewer) or a service."""

    kind: str  # "user" or "service"
    name: str
    role: str  # a Role, or SYSTEM for the built-in service token
    user_id: int | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        if self.kind == "user":
            return audit.user_actor(self.user_id)
        return audit.service_actor(self.name)

    @property
    def can_write(self) -> bool:
        """Whether this caller may change data (viewers may only read)."""
        return self.role in WRITE_ROLES


def principal_of(user: User) -> Principal:
    """The principal of a logged-in user."""
    return Principal(kind="user", name=user.email, role=user.role, user_id=user.id)


# --- logging in ---------------------------------------------------------------------------


class Refusal(StrEnum):
    """Why a login was refused."""

    THROTTLED = "throttled"  # too many failures for this email or address: wait
    WRONG = "wrong"  # wrong email or password, or the account is disabled
    ROLE = "role"  # right password, but the account may not use this door


class LoginRefused(Exception):
    """A login was refused; retry_after (seconds) is set when throttled."""

    def __init__(self, reason: Refusal, retry_after: int = 0) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.retry_after = retry_after


def log_in(
    *,
    session: Session,
    throttle: LoginThrottle,
    email: str,
    password: str,
    address: str | None,
    roles: Collection[str] | None = None,
) -> User:
    """The user with this email and password (and one of roles, if given); LoginRefused if not.

    Failed passwords count towards the throttle, per email and per client address.
    """
    wait = throttle.retry_after(email=email, address=address)
    if wait:
        raise LoginRefused(Refusal.THROTTLED, wait)
    user = users.authenticate(session=session, email=email, password=password)
    if user is None:
        throttle.failed(email=email, address=address)
        raise LoginRefused(Refusal.WRONG)
    if roles is not None and user.role not in roles:
        raise LoginRefused(Refusal.ROLE)
    throttle.succeeded(email=email)
    return user


def active_user(*, session: Session, user_id: int, roles: Collection[str]) -> User | None:
    """The user with that id if the account is active and has one of roles."""
    user = users.get(session=session, user_id=user_id)
    return user if user is not None and user.active and user.role in roles else None


# --- API bearer tokens --------------------------------------------------------------------


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=salt)


def issue_user_token(settings: Settings, user: User) -> str:
    """A signed bearer token for user, valid for TOKEN_MAX_AGE_SECONDS."""
    return _serializer(settings, TOKEN_SALT).dumps({"uid": user.id})


def principal_for_token(
    *, session: Session, settings: Settings, token: str, max_age: int = TOKEN_MAX_AGE_SECONDS
) -> Principal | None:
    """The caller a bearer token stands for, or None if it is not valid."""
    if settings.service_token and hmac.compare_digest(token, settings.service_token):
        return Principal(kind="service", name=SYSTEM, role=SYSTEM)
    try:
        data = _serializer(settings, TOKEN_SALT).loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        data = None
    if isinstance(data, dict) and isinstance(data.get("uid"), int):
        user = users.get(session=session, user_id=data["uid"])
        if user is not None and user.active:
            return principal_of(user)
        return None
    row = users.find_service_token(session=session, token=token)
    if row is not None:
        return Principal(kind="service", name=row.name, role=row.role)
    return None


# --- console session cookie ---------------------------------------------------------------


@dataclass
class ConsoleSession:
    """What the cookie carries: the logged-in user's id (if any) and the CSRF token."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    user_id: int | None = None
    is_new: bool = False


def read_session(request: Request, settings: Settings) -> ConsoleSession:
    """The session of this request; a fresh anonymous one if the cookie is missing or bad."""
    raw = request.cookies.get(COOKIE_NAME)
    if raw:
        try:
            data: Any = _serializer(settings, COOKIE_SALT).loads(
                raw, max_age=COOKIE_MAX_AGE_SECONDS)
        except BadSignature:
            data = None
        if isinstance(data, dict) and isinstance(data.get("csrf"), str):
            uid = data.get("uid")
            return ConsoleSession(csrf=data["csrf"], user_id=uid if isinstance(uid, int) else None)
    return ConsoleSession(is_new=True)


def write_session(response: Response, request: Request, settings: Settings,
                  session: ConsoleSession) -> None:
    """Set the signed session cookie on response."""
    value = _serializer(settings, COOKIE_SALT).dumps({"csrf": session.csrf,
                                                      "uid": session.user_id})
    response.set_cookie(COOKIE_NAME, value, max_age=COOKIE_MAX_AGE_SECONDS, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/console")


def clear_session(response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(COOKIE_NAME, path="/console")


def csrf_ok(session: ConsoleSession, token: str | None) -> bool:
    """Whether a form's CSRF token matches the session's."""
    return bool(token) and not session.is_new and hmac.compare_digest(session.csrf, token or "")
