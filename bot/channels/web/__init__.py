"""The web channel: the website widget, its demo page and the chat API it talks to.

    routes.py   the widget assets and /chat routes (CORS, so the widget works on other sites)
    stream.py   the event stream that shows agent replies and notices as they are written
    static/     widget.js, widget.css, the demo page

The composition root (relay.app) includes `router` and gives UPLOAD_PATH (file uploads) a
body limit of its own, refused with CORS_HEADERS.
"""

from bot.channels.web.routes import CORS_HEADERS, UPLOAD_PATH, router

__all__ = ["CORS_HEADERS", "UPLOAD_PATH", "router"]
