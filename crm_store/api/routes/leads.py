"""Leads: create (or update the open one), move through the pipeline, list, summarise."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from crm_store import leads
from crm_store.api.deps import CurrentPrincipal, SessionDep, WriterPrincipal
from crm_store.enums import LeadStage
from crm_store.schemas import (
    MAX_ID,
    MAX_OFFSET,
    MAX_PAGE,
    LeadCreate,
    LeadOut,
    LeadPage,
    LeadStageMove,
    PathId,
    PipelineStageOut,
)

router = APIRouter(prefix="/leads", tags=["leads"])


@router.post(
    "",
    response_model=LeadOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "The customer's open lead was updated instead"}},
)
def create_lead(
    body: LeadCreate, session: SessionDep, principal: WriterPrincipal, response: Response
) -> LeadOut:
    """Open a lead; if the customer already has an open one, update it (200) instead."""
    fields = body.model_dump(exclude={"customer_id"})
    lead, created = leads.open_or_update_lead(
        session=session, customer_id=body.customer_id, changed_by=principal.actor, **fields
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return LeadOut.model_validate(lead)


@router.get("", response_model=LeadPage)
def list_leads(
    session: SessionDep,
    _: CurrentPrincipal,
    stage: LeadStage | None = None,
    customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> LeadPage:
    """Leads, optionally of one stage or customer, newest first."""
    rows, total = leads.list_leads(
        session=session, stage=stage, customer_id=customer_id, limit=limit, offset=offset
    )
    return LeadPage(
        items=[LeadOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/pipeline", response_model=list[PipelineStageOut])
def pipeline(session: SessionDep, _: CurrentPrincipal) -> list[PipelineStageOut]:
    """Count and expected value per stage, in pipeline order."""
    return [PipelineStageOut(**row) for row in leads.pipeline_summary(session=session)]


@router.get("/{lead_id}", response_model=LeadOut)
def get_lead(lead_id: PathId, session: SessionDep, _: CurrentPrincipal) -> LeadOut:
    """One lead with its stage history."""
    return LeadOut.model_validate(leads.get_or_raise(session=session, lead_id=lead_id))


@router.post("/{lead_id}/stage", response_model=LeadOut)
def move_stage(
    lead_id: PathId, body: LeadStageMove, session: SessionDep, principal: WriterPrincipal
) -> LeadOut:
    """Move a lead to another stage; "lost" needs lost_reason."""
    lead = leads.move_stage(
        session=session,
        lead_id=lead_id,
        to_stage=body.stage,
        changed_by=principal.actor,
        lost_reason=body.lost_reason,
    )
    return LeadOut.model_validate(lead)
