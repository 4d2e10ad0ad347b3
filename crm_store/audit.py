"""The audit log: who changed what, with before/after snapshots.

The module that owns a change records it (customers, leads, cases, conversations' links, the
support desk for statuses, the CSV import), given the actor by its caller, so a change is
audited whoever makes it: the bot, an agent, an API caller or a service.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from crm_store.models import AuditLog, Base

_NEVER_LOGGED = {"password_hash", "token_hash"}

# How the log names who made a change.
BOT = "relay-bot"  # the assistant, through the action server (also in lead histories)


def user_actor(user_id: int | None) -> str:
    """A person: an agent, admin or viewer logged in to the API or the console."""
    return f"user:{user_id}"


def service_actor(name: str) -> str:
    """A process or script acting with a service token or on its own (gateway, seed)."""
    return f"service:{name}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def snapshot(obj: Base | None) -> dict[str, Any] | None:
    """The column values of a model instance as JSON-safe data (secrets left out)."""
    if obj is None:
        return None
    mapper = inspect(obj).mapper
    return {
        column.key: _json_safe(getattr(obj, column.key))
        for column in mapper.column_attrs
        if column.key not in _NEVER_LOGGED
    }


def record(
    *,
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: object | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Append one audit row."""
    entry = AuditLog(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        before=before,
        after=after,
    )
    session.add(entry)
    session.flush()
    return entry


def record_change(
    *,
    session: Session,
    actor: str,
    action: str,
    entity: str,
    row: Base,
    before: dict[str, Any] | None = None,
) -> None:
    """Audit a change to row: its snapshot `before` (None for a new row) and as it is now."""
    record(session=session, actor=actor, action=action, entity=entity,
           entity_id=getattr(row, "id"), before=before, after=snapshot(row))  # noqa: B009


def list_entries(
    *,
    session: Session,
    entity: str | None = None,
    entity_id: object | None = None,
    limit: int = 100,
) -> list[AuditLog]:
    """Audit rows, newest first, optionally for one entity."""
    stmt = select(AuditLog)
    if entity is not None:
        stmt = stmt.where(AuditLog.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(AuditLog.entity_id == str(entity_id))
    return list(session.scalars(stmt.order_by(AuditLog.id.desc()).limit(limit)).all())
