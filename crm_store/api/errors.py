"""How the app answers errors: one sentence in "detail" for every 4xx, documented in OpenAPI.

NotFoundError -> 404, DuplicateEmailError -> 409 (with existing_id), InvalidValue -> 422,
request validation -> 422 naming each field, IntegrityError -> 409; a 405 lists in Allow
every method the path has. Nothing else is mapped: any other exception is a bug and a 500.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from crm_store.errors import DuplicateEmailError, InvalidValue, NotFoundError

log = logging.getLogger(__name__)


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


def document_error_bodies(app: FastAPI) -> None:
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


def add_error_handlers(app: FastAPI) -> None:
    """Map the CRM's errors to their 4xx; anything else stays a 500 (crm_store.errors)."""
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
        content = {"detail": validation_sentence(errors), "errors": public_errors(errors)}
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

    @app.exception_handler(InvalidValue)
    async def invalid(_: Request, exc: InvalidValue) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Starlette's 405 names the methods of the first route whose path matched; a path
        # served by several routes (GET and POST /customers) has all of theirs.
        if exc.status_code == 405:
            allowed = allowed_methods(app, request)
            if allowed:
                return JSONResponse(
                    {"detail": f"{request.method} is not allowed here: use {', '.join(allowed)}."},
                    status_code=405, headers={"Allow": ", ".join(allowed)})
        return await http_exception_handler(request, exc)


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _template(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """The methods the OpenAPI document gives this request's path (a literal path such as
    /customers/export before /customers/{customer_id}); for a path it does not list (the
    console's), every method some route serves there."""
    path = request.url.path
    documented = sorted(((template.count("{"), template, operations)
                         for template, operations in app.openapi().get("paths", {}).items()
                         if _template(template).fullmatch(path)), key=lambda d: d[:2])
    if documented:
        return [m for m in HTTP_METHODS if m.lower() in documented[0][2]]
    return [method for method in HTTP_METHODS
            if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                   for route in app.router.routes)]


def public_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Where and what, for each invalid field: the input itself and the exception behind the
    message (pydantic's "input", "ctx", "url") are never echoed back."""
    return [{key: jsonable_encoder(error.get(key)) for key in ("type", "loc", "msg")}
            for error in errors]


def validation_sentence(errors: Sequence[Any]) -> str:
    """One sentence naming each invalid field and what is wrong with it."""
    parts = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or "request body"
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    return "Invalid request - " + "; ".join(parts) if parts else "Invalid request."
