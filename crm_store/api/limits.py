"""Request body size limit (pure ASGI, so streamed bodies are counted too).

One limit for every route, except the paths given a larger one (the widget's file upload,
which reads and checks its body itself as well), with the headers their refusal carries (the
widget's CORS headers, so that a page on another site can read why).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _sentence(max_bytes: int) -> str:
    return f"The request body is larger than the {max_bytes / (1024 * 1024):g} MiB limit."


class BodyTooLarge(HTTPException):
    """The request body went over the limit while being read (FastAPI re-raises HTTPExceptions)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=_sentence(max_bytes))


class BodySizeLimitMiddleware:
    """Answer 413 with a sentence when a request body exceeds max_bytes."""

    def __init__(self, app: ASGIApp, max_bytes: int,
                 larger: Sequence[tuple[re.Pattern[str], int, dict[str, str]]] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = tuple(larger)

    def limit_for(self, path: str) -> tuple[int, dict[str, str]]:
        """The body limit of a path and the headers of its refusal: the first larger limit
        whose pattern matches, or the default."""
        return next(((limit, headers) for pattern, limit, headers in self.larger
                     if pattern.match(path)), (self.max_bytes, {}))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes, refusal_headers = self.limit_for(str(scope.get("path", "")))
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > max_bytes:
                await self._reject(send, max_bytes, refusal_headers)
                return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._reject(send, max_bytes, refusal_headers)

    async def _reject(self, send: Send, max_bytes: int,
                      extra: dict[str, str] | None = None) -> None:
        body = json.dumps({"detail": _sentence(max_bytes)}).encode()
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
