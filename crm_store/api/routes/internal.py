"""Internal endpoints for Relay's own processes (service tokens only)."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict

from crm_store.api.deps import ServicePrincipal, SessionDep
from crm_store.ingest import IngestResult, ingest_rasa_events_detailed

router = APIRouter(prefix="/internal", tags=["internal"])
log = logging.getLogger(__name__)


class RasaEventsIn(BaseModel):
    """A batch from bot/relay_broker.py: raw Rasa events, each with "sender_id" added."""

    model_config = ConfigDict(extra="forbid")
    events: list[dict[str, Any]]


class IngestOut(BaseModel):
    """How many events changed something (new interactions or status changes)."""

    ingested: int


@router.post("/rasa-events", response_model=IngestOut)
async def rasa_events(
    body: RasaEventsIn, session: SessionDep, principal: ServicePrincipal, request: Request
) -> IngestOut:
    """Log Rasa's tracker events as Interactions; safe to redeliver."""

    def store() -> IngestResult:
        result = ingest_rasa_events_detailed(session=session, events=body.events,
                                             actor=principal.actor)
        session.commit()
        return result

    # The database work is blocking; keep it off the event loop the channels share.
    result = await run_in_threadpool(store)
    hub = getattr(request.app.state, "hub", None)
    notify = getattr(hub, "conversations_updated", None)
    if notify is not None and result.conversation_ids:
        # The channels' hub pushes new messages to open agent consoles; a failure there
        # must not make the broker redeliver what is already stored.
        try:
            outcome = notify(sorted(result.conversation_ids))
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            log.exception("hub.conversations_updated failed")
    return IngestOut(ingested=result.count)
