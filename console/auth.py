"""Console sessions: a signed cookie (settings.secret_key) with the agent id and a CSRF token."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from relay.settings import Settings

COOKIE_NAME = "relay_console"
COOKIE_SALT = "relay-console-session"
MAX_AGE_SECONDS = 12 * 3600


@dataclass
class ConsoleSession:
    """What the cookie carries: the logged-in user's id (if any) and the CSRF token."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    user_id: int | None = None
    is_new: bool = False


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=COOKIE_SALT)


def read_session(request: Request, settings: Settings) -> ConsoleSession:
    """The session of this request; a fresh anonymous one if the cookie is missing or bad."""
    raw = request.cookies.get(COOKIE_NAME)
    if raw:
        try:
            data: Any = _serializer(settings).loads(raw, max_age=MAX_AGE_SECONDS)
        except BadSignature:
            data = None
        if isinstance(data, dict) and isinstance(data.get("csrf"), str):
            uid = data.get("uid")
            return ConsoleSession(csrf=data["csrf"], user_id=uid if isinstance(uid, int) else None)
    return ConsoleSession(is_new=True)


def write_session(response: Response, request: Request, settings: Settings,
                  session: ConsoleSession) -> None:
    """Set the signed session cookie on response."""
    value = _serializer(settings).dumps({"csrf": session.csrf, "uid": session.user_id})
    response.set_cookie(COOKIE_NAME, value, max_age=MAX_AGE_SECONDS, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/console")


def clear_session(response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(COOKIE_NAME, path="/console")


def csrf_ok(session: ConsoleSession, token: str | None) -> bool:
    """Whether a form's CSRF token matches the session's."""
    return bool(token) and not session.is_new and hmac.compare_digest(session.csrf, token or "")
