"""Internal endpoints for Relay's own processes (the system token only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from crm_store.api.deps import SessionDep, SystemPrincipal
from crm_store.ingest import ingest_rasa_events

router = APIRouter(prefix="/internal", tags=["internal"])


class RasaEventsIn(BaseModel):
    """A batch from bot/relay_broker.py: raw Rasa events, each with "sender_id" added."""

    model_config = ConfigDict(extra="forbid")
    events: list[dict[str, Any]]


class IngestOut(BaseModel):
    """How many events changed something (new interactions or status changes)."""

    ingested: int


@router.post("/rasa-events", response_model=IngestOut)
def rasa_events(body: RasaEventsIn, session: SessionDep, principal: SystemPrincipal) -> IngestOut:
    """Log Rasa's tracker events as Interactions; safe to redeliver."""
    return IngestOut(ingested=ingest_rasa_events(session=session, events=body.events,
                                                 actor=principal.actor))
