"""GET /healthz: is the app up and can it reach its database."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from crm_store.api.deps import get_session_factory

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
            reason = f"database unreachable: {str(exc).splitlines()[0]}"
        return JSONResponse({"status": "unavailable", "detail": reason}, status_code=503)
    return {"status": "ok"}
