"""Customers: create, read, update, search, timeline, CSV import/export."""

from __future__ import annotations

import io
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, UploadFile, status
from fastapi.responses import Response

from crm_store import audit, cases, csv_io, customers, interactions, leads, privacy
from crm_store.api.deps import (
    AdminPrincipal,
    CurrentPrincipal,
    SessionDep,
    SettingsDep,
    WriterPrincipal,
)
from crm_store.enums import CustomerType
from crm_store.schemas import (
    MAX_OFFSET,
    MAX_PAGE,
    CaseOut,
    CsvImportOut,
    CsvRowOut,
    CustomerCreate,
    CustomerOut,
    CustomerPage,
    CustomerUpdate,
    InteractionOut,
    LeadOut,
    PathId,
)
from crm_store.segments import SegmentName

router = APIRouter(prefix="/customers", tags=["customers"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page size, at most {MAX_PAGE}")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


@router.get("", response_model=CustomerPage)
def search_customers(
    session: SessionDep,
    _: CurrentPrincipal,
    q: Annotated[str | None, Query(max_length=200, description="any of the fields")] = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    phone: Annotated[str | None, Query(max_length=40)] = None,
    company: Annotated[str | None, Query(max_length=200)] = None,
    type: CustomerType | None = None,
    segment: Annotated[SegmentName | None, Query(description="loyalty segment")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CustomerPage:
    """Search customers by name, email, phone or company (substring, case-insensitive)."""
    rows, total = customers.search(
        session=session,
        query=q,
        name=name,
        email=email,
        phone=phone,
        company=company,
        type=type,
        segment=segment,
        limit=limit,
        offset=offset,
    )
    return CustomerPage(
        items=[CustomerOut.model_validate(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("", response_model=CustomerOut, status_code=status.HTTP_201_CREATED)
def create_customer(
    body: CustomerCreate, session: SessionDep, principal: WriterPrincipal
) -> CustomerOut:
    """Create a customer; 409 with existing_id if the email is taken."""
    customer = customers.create(session=session, actor=principal.actor, **body.model_dump())
    return CustomerOut.model_validate(customer)


@router.get("/export", response_class=Response)
def export_customers(session: SessionDep, _: CurrentPrincipal) -> Response:
    """All customers as CSV."""
    buffer = io.StringIO()
    csv_io.export_customers(session=session, out=buffer)
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="customers.csv"'},
    )


@router.post("/import", response_model=CsvImportOut)
def import_customers(
    file: UploadFile, session: SessionDep, principal: WriterPrincipal
) -> CsvImportOut:
    """Import a CSV of customers; the report says what happened to every row and why."""
    try:
        text = file.file.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(422, "The CSV file is not UTF-8 text.") from None
    report = csv_io.import_customers(session=session, text=text, actor=principal.actor)
    return CsvImportOut(
        created=report.count("created"),
        merged=report.count("merged"),
        rejected=report.count("rejected"),
        rows=[CsvRowOut(**vars(row)) for row in report.rows],
    )


@router.get("/{customer_id}", response_model=CustomerOut)
def get_customer(customer_id: PathId, session: SessionDep, _: CurrentPrincipal) -> CustomerOut:
    """One customer."""
    return CustomerOut.model_validate(
        customers.get_or_raise(session=session, customer_id=customer_id)
    )


@router.patch("/{customer_id}", response_model=CustomerOut)
def update_customer(
    customer_id: PathId, body: CustomerUpdate, session: SessionDep, principal: WriterPrincipal
) -> CustomerOut:
    """Change some of a customer's fields (only those sent)."""
    changes = body.model_dump(exclude_unset=True)
    for key in ("type", "contact_consent"):
        if key in changes and changes[key] is None:
            raise HTTPException(422, f"{key} cannot be null.")
    customer = customers.update(
        session=session, customer_id=customer_id, actor=principal.actor, **changes
    )
    return CustomerOut.model_validate(customer)


@router.get("/{customer_id}/timeline", response_model=list[InteractionOut])
def customer_timeline(
    customer_id: PathId,
    session: SessionDep,
    _: CurrentPrincipal,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[InteractionOut]:
    """The customer's interactions across all conversations and channels, oldest first."""
    customers.get_or_raise(session=session, customer_id=customer_id)
    rows = interactions.timeline_for_customer(
        session=session, customer_id=customer_id, limit=limit, offset=offset
    )
    return [InteractionOut.model_validate(r) for r in rows]


@router.get("/{customer_id}/cases", response_model=list[CaseOut])
def customer_cases(customer_id: PathId, session: SessionDep, _: CurrentPrincipal) -> list[CaseOut]:
    """The customer's cases, newest first."""
    customers.get_or_raise(session=session, customer_id=customer_id)
    rows = cases.list_for_customer(session=session, customer_id=customer_id)
    return [CaseOut.model_validate(r) for r in rows]


@router.get("/{customer_id}/leads", response_model=list[LeadOut])
def customer_leads(customer_id: PathId, session: SessionDep, _: CurrentPrincipal) -> list[LeadOut]:
    """The customer's leads, newest first."""
    customers.get_or_raise(session=session, customer_id=customer_id)
    rows, _total = leads.list_leads(session=session, customer_id=customer_id, limit=MAX_PAGE)
    return [LeadOut.model_validate(r) for r in rows]


@router.get("/{customer_id}/personal-data")
def export_personal_data(customer_id: PathId, session: SessionDep,
                         principal: AdminPrincipal) -> dict[str, Any]:
    """Everything Relay keeps about the customer (GDPR access/portability; admins; audited)."""
    document = privacy.export(session=session, customer_id=customer_id)
    audit.record(session=session, actor=principal.actor, action="export",
                 entity=privacy.ENTITY, entity_id=customer_id)
    return document


@router.delete("/{customer_id}")
def erase_customer(customer_id: PathId, session: SessionDep, principal: AdminPrincipal,
                   settings: SettingsDep) -> dict[str, Any]:
    """Erase the customer: record, identities, conversations, Rasa's events, logs (admins)."""
    done = privacy.erase(session=session, customer_id=customer_id, actor=principal.actor,
                         log_dirs=[settings.data_dir / "logs"])
    return asdict(done)
