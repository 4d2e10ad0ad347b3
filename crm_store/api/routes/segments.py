"""Loyalty segments under /api/v1/insights/segments: summary, scatter sample, customers, refresh."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status

from crm_store import segments
from crm_store.api.deps import SessionDep
from crm_store.api.routes.insights import CSV_RESPONSE, FigureOut, TeamPrincipal, csv_response
from crm_store.insights import Table
from crm_store.schemas import MAX_OFFSET, MAX_PAGE

router = APIRouter(prefix="/insights/segments", tags=["insights"])

Segment = segments.SegmentName
Format = Literal["json", "csv"]


def _out(table: Table, format: Format, **extra: Any) -> Any:
    # Segments are "as of the last run", not a date range: the scope says so.
    if format == "csv":
        suffix = f"_{extra['segment'].replace(' ', '-')}" if extra.get("segment") else ""
        return csv_response(table, f"{table.name}{suffix}.csv")
    return FigureOut(name=table.name, columns=table.columns, rows=table.records(),
                     scope={"as_of": "last segmentation", **extra})


@router.get("", response_model=FigureOut, responses=CSV_RESPONSE)
def segment_summary(session: SessionDep, _: TeamPrincipal, format: Format = "json") -> Any:
    """Customers per segment with their average recency, frequency and money."""
    return _out(segments.summary(session=session), format)


@router.get("/points", response_model=FigureOut, responses=CSV_RESPONSE)
def segment_points(
    session: SessionDep,
    _: TeamPrincipal,
    limit: Annotated[int, Query(ge=10, le=5000)] = 2000,
    format: Format = "json",
) -> Any:
    """A sample of customers (every n-th) for the RFM scatter plot."""
    return _out(segments.points(session=session, limit=limit), format)


@router.get("/customers", response_model=FigureOut, responses=CSV_RESPONSE)
def segment_customers(
    session: SessionDep,
    _: TeamPrincipal,
    segment: Segment | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    format: Format = "json",
) -> Any:
    """Customers with their RFM scores (one segment or all), most valuable first; CSV: all."""
    if format == "csv":
        table, total = segments.customers_in(session=session, segment=segment)
    else:
        table, total = segments.customers_in(session=session, segment=segment, limit=limit,
                                             offset=offset)
    return _out(table, format, segment=segment, total=total, limit=limit, offset=offset)


@router.post("/refresh", response_model=FigureOut)
def refresh_segments(session: SessionDep, principal: TeamPrincipal) -> Any:
    """Recompute every customer's RFM scores and segment now (managers and admins)."""
    if not principal.can_write:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Viewers may not recompute segments.")
    segments.recompute(session=session, actor=principal.actor)
    return _out(segments.summary(session=session), "json")
