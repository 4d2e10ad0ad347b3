"""Cases: open, update status/priority, list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from crm_store import cases, conversations, customers
from crm_store.api.deps import CurrentPrincipal, SessionDep, WriterPrincipal
from crm_store.enums import CaseStatus
from crm_store.schemas import (
    MAX_ID,
    MAX_OFFSET,
    MAX_PAGE,
    CaseCreate,
    CaseOut,
    CasePage,
    CaseUpdate,
    PathId,
)

router = APIRouter(prefix="/cases", tags=["cases"])


@router.post("", response_model=CaseOut, status_code=status.HTTP_201_CREATED)
def create_case(body: CaseCreate, session: SessionDep, principal: WriterPrincipal) -> CaseOut:
    """Open a case, optionally for a customer and a conversation."""
    if body.customer_id is not None:
        customers.get_or_raise(session=session, customer_id=body.customer_id)
    if body.conversation_id is not None:
        conversations.get_or_raise(session=session, conversation_id=body.conversation_id)
    case = cases.open_case(session=session, actor=principal.actor, **body.model_dump())
    return CaseOut.model_validate(case)


@router.get("", response_model=CasePage)
def list_cases(
    session: SessionDep,
    _: CurrentPrincipal,
    status: CaseStatus | None = None,
    customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> CasePage:
    """Cases, optionally of one status or customer, newest first."""
    rows, total = cases.list_cases(
        session=session, status=status, customer_id=customer_id, limit=limit, offset=offset
    )
    return CasePage(
        items=[CaseOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{case_id}", response_model=CaseOut)
def get_case(case_id: PathId, session: SessionDep, _: CurrentPrincipal) -> CaseOut:
    """One case."""
    return CaseOut.model_validate(cases.get_or_raise(session=session, case_id=case_id))


@router.patch("/{case_id}", response_model=CaseOut)
def update_case(
    case_id: PathId, body: CaseUpdate, session: SessionDep, principal: WriterPrincipal
) -> CaseOut:
    """Change a case's status and/or priority."""
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if not changes:
        raise HTTPException(422, "Send status and/or priority to change.")
    case = cases.update(session=session, case_id=case_id, actor=principal.actor, **changes)
    return CaseOut.model_validate(case)
