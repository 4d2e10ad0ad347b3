"""The FastAPI app: CRM API, internal ingest, and whatever routers console/ and bot/channels add.

Run with `uvicorn --factory crm_store.api.app:create_app`. The database must be migrated first
(`python -m crm_store.migrate`); the app never creates tables itself.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from crm_store.api.limits import BodySizeLimitMiddleware
from crm_store.api.routes import health, internal, v1
from crm_store.db import make_engine, make_session_factory
from crm_store.errors import DuplicateEmailError, NotFoundError
from relay.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Routers other packages own; included when their module exists (each exposes `router`).
EXTRA_ROUTER_MODULES = ("console.routes", "console.insights", "bot.channels.web")
MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings | None = None, *, include_extras: bool = True) -> FastAPI:
    """Build the app; the engine and session factory are created by the lifespan.

    include_extras=False leaves out console/ and bot/channels/ (the CRM's own tests use it).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        app.state.engine = engine
        app.state.session_factory = make_session_factory(engine)
        try:
            yield
        finally:
            app.state.session_factory = None
            engine.dispose()

    app = FastAPI(
        title="Relay CRM API",
        version="1",
        description="Customers, leads, cases and conversation logs behind the Relay chatbot.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.session_factory = None
    app.state.hub = None  # filled by bot/channels (the live message hub)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    _add_error_handlers(app)
    app.include_router(health.router)
    app.include_router(internal.router, responses=COMMON_ERRORS)
    app.include_router(v1.router, responses=COMMON_ERRORS)
    if include_extras:
        include_extra_routers(app)
    _document_error_bodies(app)
    return app


class ErrorOut(BaseModel):
    """What every 4xx carries: a sentence saying what was wrong."""

    detail: str


# Documented on every /api/v1 operation, so clients (and schemathesis) know the error shapes.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (400, "Bad request"),
        (401, "Not authenticated"),
        (403, "Role not allowed"),
        (404, "Not found"),
        (409, "Conflict (e.g. duplicate email; carries existing_id)"),
        (413, "Body too large"),
    )
}


def _document_error_bodies(app: FastAPI) -> None:
    """Describe our 422 body ({detail: sentence, errors: [...]}) instead of FastAPI's default."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default_openapi()
            schemas = schema.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = {
                    "title": "HTTPValidationError",
                    "type": "object",
                    "properties": {
                        "detail": {"type": "string"},
                        "errors": {"type": "array", "items": {"type": "object"}},
                    },
                    "required": ["detail"],
                }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def include_extra_routers(app: FastAPI) -> list[str]:
    """Include the routers of console/ and bot/channels/ if those packages exist yet."""
    included = []
    for module_name in EXTRA_ROUTER_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only "that package isn't there yet" is fine; a broken import inside it is not.
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router, responses=COMMON_ERRORS)
            included.append(module_name)
    return included


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(DuplicateEmailError)
    async def duplicate(_: Request, exc: DuplicateEmailError) -> JSONResponse:
        content: dict[str, Any] = {"detail": str(exc), "existing_id": exc.existing_id}
        return JSONResponse(content, status_code=409)

    @app.exception_handler(RequestValidationError)
    async def unprocessable(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        content = {"detail": validation_sentence(errors), "errors": jsonable_encoder(errors)}
        return JSONResponse(content, status_code=422)

    @app.exception_handler(IntegrityError)
    async def conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        # A safety net: routes check references first, so this means a concurrent change.
        log.warning("integrity error: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        return JSONResponse(
            {
                "detail": "The change conflicts with existing data (a duplicate or a missing "
                "reference); reload and try again."
            },
            status_code=409,
        )

    @app.exception_handler(ValueError)
    async def invalid(_: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)


def validation_sentence(errors: Sequence[Any]) -> str:
    """One sentence naming each invalid field and what is wrong with it."""
    parts = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or "request body"
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    return "Invalid request - " + "; ".join(parts) if parts else "Invalid request."
