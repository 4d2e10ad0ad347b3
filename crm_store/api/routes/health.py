"""GET /healthz: is the app up and can it reach its database."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from crm_store.api.deps import get_session_factory

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(request: Request) -> Any:
    """200 {"status": "ok"} when the database answers, 503 with the reason otherwise."""
    try:
        factory = get_session_factory(request)
        with factory() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not healthy"; say which
        reason = exc.detail if hasattr(exc, "detail") else type(exc).__name__
        if isinstance(exc, SQLAlchemyError):
            # The driver's text can name hosts and users: it goes to the log, not to callers.
            log.warning("healthz: %s", str(exc).splitlines()[0])
            reason = "database unreachable"
        return JSONResponse({"status": "unavailable", "detail": reason}, status_code=503)
    return {"status": "ok"}
