"""Who is calling: agents' signed bearer tokens, hashed service tokens, the system token."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from crm_store import users
from crm_store.models import User
from relay.settings import Settings

TOKEN_SALT = "relay-api-token"
TOKEN_MAX_AGE_SECONDS = 12 * 3600
WRITE_ROLES = ("agent", "manager", "admin", "system")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user (agent/admin/viewer) or a service."""

    kind: str  # "user" or "service"
    name: str
    role: str  # "agent", "manager", "admin", "viewer", or "system" for the built-in service token
    user_id: int | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"user:{self.user_id}" if self.kind == "user" else f"service:{self.name}"

    @property
    def can_write(self) -> bool:
        """Whether this caller may change data (viewers may only read)."""
        return self.role in WRITE_ROLES


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=TOKEN_SALT)


def issue_user_token(settings: Settings, user: User) -> str:
    """A signed bearer token for user, valid for TOKEN_MAX_AGE_SECONDS."""
    return _serializer(settings).dumps({"uid": user.id})


def principal_for_token(
    *, session: Session, settings: Settings, token: str, max_age: int = TOKEN_MAX_AGE_SECONDS
) -> Principal | None:
    """The caller a bearer token stands for, or None if it is not valid."""
    if settings.service_token and hmac.compare_digest(token, settings.service_token):
        return Principal(kind="service", name="system", role="system")
    try:
        data = _serializer(settings).loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        data = None
    if isinstance(data, dict) and isinstance(data.get("uid"), int):
        user = users.get(session=session, user_id=data["uid"])
        if user is not None and user.active:
            return Principal(kind="user", name=user.email, role=user.role, user_id=user.id)
        return None
    row = users.find_service_token(session=session, token=token)
    if row is not None:
        return Principal(kind="service", name=row.name, role=row.role)
    return None
