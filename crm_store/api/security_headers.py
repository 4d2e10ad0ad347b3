"""Security headers on every response: no MIME sniffing, no framing, a Content-Security-Policy.

Pure ASGI (like limits.py), so the widget's event stream is not buffered. Relay's own pages (the
console, the demo page, the development mail page) load scripts and styles from this origin
only and are never framed; the interactive API docs load Swagger UI / ReDoc from their CDN and
start them with an inline script, so /docs and /redoc get a policy that allows exactly that.
Everything else (JSON, CSV, the widget's script) gets a policy that allows nothing at all, since
a browser should never render it as a page.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
               "form-action 'self'; frame-ancestors 'none'")
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_POLICY = (f"default-src 'self'; script-src 'self' 'unsafe-inline' {DOCS_CDN}; "
               f"style-src 'self' 'unsafe-inline' {DOCS_CDN}; img-src 'self' data: "
               f"https://fastapi.tiangolo.com; font-src 'self' data: {DOCS_CDN}; "
               "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
               "base-uri 'none'; frame-ancestors 'none'")
NOTHING_POLICY = "default-src 'none'; frame-ancestors 'none'"
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def policy_for(path: str, content_type: str) -> str:
    """The Content-Security-Policy for a response to path with this content type."""
    if not content_type.startswith("text/html"):
        return NOTHING_POLICY
    return DOCS_POLICY if path in DOCS_PATHS else PAGE_POLICY


class SecurityHeadersMiddleware:
    """Add ALWAYS and a Content-Security-Policy to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy",
                                   policy_for(path, headers.get("content-type", "")))
            await send(message)

        await self.app(scope, receive, send_with_headers)
