"""A stand-in for Rasa's REST channel and tracker-events API, for the channels' unit tests.

It answers like a tiny rule-based bot and records what it received; the integration tests use
the real Rasa server instead.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class FakeRasa:
    """Received messages and tracker events, and the server's address."""

    token: str
    url: str = ""
    port: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, list[Any]] = field(default_factory=dict)
    paused: set[str] = field(default_factory=set)

    def reply(self, sender: str, text: str) -> list[dict[str, Any]]:
        """The canned answer to text."""
        if sender in self.paused:
            return []
        if text in ("/ask_human", "human please"):
            self.paused.add(sender)
            return [{"recipient_id": sender, "text": "A person will reply here."}]
        if text in ("hi", "hello"):
            return [{"recipient_id": sender, "text": "Hi! How can I help?",
                     "buttons": [{"title": "Talk to a person", "payload": "/ask_human"},
                                 {"title": "Pricing", "payload": "/ask_pricing"}]}]
        if text == "/ask_pricing":
            return [{"recipient_id": sender, "text": "Plus costs 4.99 a month."}]
        return [{"recipient_id": sender, "text": f"You said: {text}"}]


@contextmanager
def running_fake_rasa(token: str = "fake-rasa-token") -> Iterator[FakeRasa]:
    """Serve a FakeRasa on a free port of 127.0.0.1 for the duration of the block."""
    state = FakeRasa(token=token)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            if url.path == "/webhooks/relay/webhook":
                state.messages.append(body)
                self._json(200, state.reply(body["sender"], body["message"]))
                return
            parts = url.path.strip("/").split("/")
            if len(parts) == 4 and parts[0] == "conversations" and parts[2:] == [
                    "tracker", "events"]:
                if parse_qs(url.query).get("token") != [state.token]:
                    self._json(401, {"message": "bad token"})
                    return
                state.events.setdefault(parts[1], []).extend(body)
                if any(e.get("event") == "resume" for e in body):
                    state.paused.discard(parts[1])
                self._json(200, {"sender_id": parts[1]})
                return
            self._json(404, {"message": "not found"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    state.url = f"http://127.0.0.1:{state.port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
