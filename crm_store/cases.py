"""Cases: questions, problems, handoffs and complaints that need a person."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store import audit
from crm_store.enums import CasePriority, CaseStatus, CaseType
from crm_store.errors import InvalidValue, NotFoundError
from crm_store.models import (
    CASE_PRIORITIES,
    CASE_STATUSES,
    CASE_TYPES,
    OPEN_CASE_STATUSES,
    Case,
    utcnow,
)

ENTITY = "case"  # in the audit log
RESOLVED_STATUSES = (CaseStatus.RESOLVED, CaseStatus.CLOSED)


def _check(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidValue(f"{field} must be one of {', '.join(allowed)}.")


def open_case(
    *,
    session: Session,
    actor: str,
    subject: str,
    description: str = "",
    type: str = CaseType.QUESTION,
    priority: str = CasePriority.NORMAL,
    customer_id: int | None = None,
    conversation_id: str | None = None,
) -> Case:
    """A new open case, audited."""
    _check("type", type, CASE_TYPES)
    _check("priority", priority, CASE_PRIORITIES)
    if not subject.strip():
        raise InvalidValue("subject must not be empty.")
    case = Case(
        subject=subject.strip()[:300],
        description=description,
        type=type,
        priority=priority,
        status=CaseStatus.OPEN,
        customer_id=customer_id,
        conversation_id=conversation_id,
    )
    session.add(case)
    session.flush()
    audit.record_change(session=session, actor=actor, action="create", entity=ENTITY, row=case)
    return case


def get(*, session: Session, case_id: int) -> Case | None:
    """The case with that id, or None."""
    return session.get(Case, case_id)


def get_or_raise(*, session: Session, case_id: int) -> Case:
    """The case with that id; NotFoundError otherwise."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError("Case", case_id)
    return case


def set_status(*, session: Session, case_id: int, status: str, actor: str) -> Case:
    """Move a case to open/pending/resolved/closed, audited."""
    return update(session=session, case_id=case_id, actor=actor, status=status)


def _mark_resolution(case: Case, status: str) -> None:
    """resolved_at: set on the first move to resolved/closed, cleared when the case reopens."""
    if status in RESOLVED_STATUSES:
        if case.resolved_at is None:
            case.resolved_at = utcnow()
    else:
        case.resolved_at = None


def update(*, session: Session, case_id: int, actor: str, **changes: Any) -> Case:
    """Change a case's status, priority, type, subject or description, audited."""
    allowed = {"status": CASE_STATUSES, "priority": CASE_PRIORITIES, "type": CASE_TYPES}
    unknown = set(changes) - {*allowed, "subject", "description"}
    if unknown:
        raise InvalidValue(f"Cases have no editable field(s) {', '.join(sorted(unknown))}.")
    case = get_or_raise(session=session, case_id=case_id)
    before = audit.snapshot(case)
    for key, value in changes.items():
        if key in allowed:
            _check(key, value, allowed[key])
        if key == "status":
            _mark_resolution(case, value)
        setattr(case, key, value)
    session.flush()
    audit.record_change(session=session, actor=actor, action="update", entity=ENTITY, row=case,
                        before=before)
    return case


def list_for_customer(*, session: Session, customer_id: int) -> list[Case]:
    """A customer's cases, newest first."""
    return list(
        session.scalars(
            select(Case).where(Case.customer_id == customer_id).order_by(Case.id.desc())
        ).all()
    )


def list_open_for_conversation(*, session: Session, conversation_id: str) -> list[Case]:
    """The open or pending cases of a conversation, newest first."""
    return list(
        session.scalars(
            select(Case)
            .where(Case.conversation_id == conversation_id, Case.status.in_(OPEN_CASE_STATUSES))
            .order_by(Case.id.desc())
        ).all()
    )


def list_cases(
    *,
    session: Session,
    status: str | None = None,
    customer_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Case], int]:
    """Cases (optionally filtered), newest first, and the total."""
    conditions = []
    if status is not None:
        conditions.append(Case.status == status)
    if customer_id is not None:
        conditions.append(Case.customer_id == customer_id)
    total = session.scalar(select(func.count()).select_from(Case).where(*conditions)) or 0
    rows = session.scalars(
        select(Case).where(*conditions).order_by(Case.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def record_first_reply(
    *, session: Session, conversation_id: str, agent_id: int | None, at: datetime
) -> int:
    """An agent replied: the conversation's handoff cases opened before and not yet answered
    get their first reply time and agent (for the time-to-first-reply figures)."""
    result = session.execute(
        sa.update(Case)
        .where(Case.conversation_id == conversation_id, Case.type == CaseType.HANDOFF,
               Case.first_reply_at.is_(None), Case.created_at <= at)
        .values(first_reply_at=at, first_reply_agent_id=agent_id)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)
