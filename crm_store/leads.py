"""Leads and the sales pipeline."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store import audit, customers
from crm_store.enums import CustomerType, LeadStage
from crm_store.errors import InvalidValue, NotFoundError
from crm_store.models import LEAD_STAGES, OPEN_LEAD_STAGES, Lead, LeadStageChange, User

ENTITY = "lead"  # in the audit log
_DETAIL_FIELDS = ("interest", "company_size", "budget", "timeline", "source_channel")


def _check_owner(session: Session, owner_id: int | None) -> None:
    if owner_id is not None and session.get(User, owner_id) is None:
        raise InvalidValue(f"owner_id {owner_id} is not a user.")


def get(*, session: Session, lead_id: int) -> Lead | None:
    """The lead with that id, or None."""
    return session.get(Lead, lead_id)


def get_or_raise(*, session: Session, lead_id: int) -> Lead:
    """The lead with that id; NotFoundError otherwise."""
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise NotFoundError("Lead", lead_id)
    return lead


def open_lead_for(*, session: Session, customer_id: int) -> Lead | None:
    """The customer's most recent verified lead that is neither won nor lost, or None."""
    return session.scalars(
        select(Lead)
        .where(Lead.customer_id == customer_id, Lead.stage.in_(OPEN_LEAD_STAGES),
               Lead.unverified.is_(False))
        .order_by(Lead.id.desc())
    ).first()


def open_or_update_lead(
    *,
    session: Session,
    customer_id: int,
    interest: str | None = None,
    company_size: str | None = None,
    budget: str | None = None,
    timeline: str | None = None,
    source_channel: str | None = None,
    expected_value: Decimal | float | str | None = None,
    owner_id: int | None = None,
    changed_by: str,
    unverified: bool = False,
) -> tuple[Lead, bool]:
    """(lead, created): a repeat request updates the customer's open lead, never duplicates it.

    changed_by is the actor: it goes into the stage history and the audit log. An `unverified`
    request (the customer only typed the email) is always a new lead marked unverified: it
    neither changes the customer's open lead nor the customer's type.
    """
    customers.get_or_raise(session=session, customer_id=customer_id)
    _check_owner(session, owner_id)
    details: dict[str, Any] = {
        "interest": interest,
        "company_size": company_size,
        "budget": budget,
        "timeline": timeline,
        "source_channel": source_channel,
        "owner_id": owner_id,
    }
    if expected_value is not None:
        details["expected_value"] = Decimal(str(expected_value))
    given = {k: v for k, v in details.items() if v is not None}
    lead = None if unverified else open_lead_for(session=session, customer_id=customer_id)
    before = audit.snapshot(lead)
    created = lead is None
    if lead is None:
        lead = Lead(customer_id=customer_id, stage=LeadStage.NEW, unverified=unverified, **given)
        lead.history.append(
            LeadStageChange(from_stage=None, to_stage=LeadStage.NEW, changed_by=changed_by)
        )
        session.add(lead)
    else:
        for key, value in given.items():
            setattr(lead, key, value)
    if not unverified:
        customers.promote(session=session, customer_id=customer_id, to_type=CustomerType.LEAD)
    session.flush()
    audit.record_change(session=session, actor=changed_by, action="create" if created else "update",
                        entity=ENTITY, row=lead, before=before)
    return lead, created


def update(*, session: Session, lead_id: int, actor: str, **changes: Any) -> Lead:
    """Change a lead's details (not its stage: use move_stage), audited."""
    allowed = {*_DETAIL_FIELDS, "expected_value", "owner_id"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidValue(f"Leads have no editable field(s) {', '.join(sorted(unknown))}.")
    lead = get_or_raise(session=session, lead_id=lead_id)
    before = audit.snapshot(lead)
    _check_owner(session, changes.get("owner_id"))
    for key, value in changes.items():
        if key == "expected_value" and value is not None:
            value = Decimal(str(value))
        setattr(lead, key, value)
    session.flush()
    audit.record_change(session=session, actor=actor, action="update", entity=ENTITY, row=lead,
                        before=before)
    return lead


def move_stage(
    *,
    session: Session,
    lead_id: int,
    to_stage: str,
    changed_by: str,
    lost_reason: str | None = None,
) -> Lead:
    """Move a lead to another stage, recording the change (history and audit log, actor
    changed_by); "lost" requires lost_reason."""
    if to_stage not in LEAD_STAGES:
        raise InvalidValue(f"stage must be one of {', '.join(LEAD_STAGES)}.")
    lead = get_or_raise(session=session, lead_id=lead_id)
    before = audit.snapshot(lead)
    _move(session, lead, to_stage, changed_by, lost_reason)
    session.flush()
    audit.record_change(session=session, actor=changed_by, action="move_stage", entity=ENTITY,
                        row=lead, before=before)
    return lead


def _move(
    session: Session, lead: Lead, to_stage: str, changed_by: str, lost_reason: str | None
) -> None:
    if to_stage == LeadStage.LOST:
        if not lost_reason or not lost_reason.strip():
            raise InvalidValue("lost_reason is required when moving a lead to lost.")
        lead.lost_reason = lost_reason.strip()
    if lead.stage == to_stage:
        return
    if to_stage != LeadStage.LOST:
        lead.lost_reason = None
    lead.history.append(
        LeadStageChange(from_stage=lead.stage, to_stage=to_stage, changed_by=changed_by)
    )
    lead.stage = to_stage
    if to_stage == LeadStage.WON:
        customers.promote(
            session=session, customer_id=lead.customer_id, to_type=CustomerType.CUSTOMER
        )


def list_leads(
    *,
    session: Session,
    stage: str | None = None,
    customer_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Lead], int]:
    """Leads (optionally of one stage or customer), newest first, and the total."""
    conditions = []
    if stage is not None:
        conditions.append(Lead.stage == stage)
    if customer_id is not None:
        conditions.append(Lead.customer_id == customer_id)
    total = session.scalar(select(func.count()).select_from(Lead).where(*conditions)) or 0
    rows = session.scalars(
        select(Lead).where(*conditions).order_by(Lead.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def pipeline_summary(*, session: Session) -> list[dict[str, Any]]:
    """For every stage in pipeline order: {"stage", "count", "expected_value"} (a Decimal)."""
    rows = session.execute(
        select(
            Lead.stage, func.count(Lead.id), func.coalesce(func.sum(Lead.expected_value), 0)
        ).group_by(Lead.stage)
    ).all()
    found = {stage: (count, Decimal(str(total))) for stage, count, total in rows}
    return [
        {
            "stage": stage,
            "count": found.get(stage, (0, Decimal(0)))[0],
            "expected_value": found.get(stage, (0, Decimal(0)))[1].quantize(Decimal("0.01")),
        }
        for stage in LEAD_STAGES
    ]
