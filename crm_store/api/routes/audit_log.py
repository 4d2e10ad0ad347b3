"""The audit log, readable by admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from crm_store import audit
from crm_store.api.deps import AdminPrincipal, SessionDep
from crm_store.schemas import MAX_PAGE, AuditOut

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditOut])
def list_audit(
    session: SessionDep,
    _: AdminPrincipal,
    entity: str | None = None,
    entity_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> list[AuditOut]:
    """Audit rows, newest first, optionally for one entity."""
    rows = audit.list_entries(session=session, entity=entity, entity_id=entity_id, limit=limit)
    return [AuditOut.model_validate(r) for r in rows]
