"""A stand-in for Rasa's gateway channel and tracker-events API, for the channels' unit tests.

It answers like a tiny rule-based bot and records what it received; like the real Rasa it
handles a message id once (a repeat gets the earlier replies) and, given a database, commits
each turn's events to the tracker store's `events` table before it answers, which is where the
CRM reads them (crm_store.events). The integration tests use the real Rasa server instead.
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

from tests.tracker_store import add_events


@dataclass
class FakeRasa:
    """Received messages and tracker events, and the server's address."""

    token: str
    url: str = ""
    port: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, list[Any]] = field(default_factory=dict)
    paused: set[str] = field(default_factory=set)
    database_url: str = ""
    handled: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    down: bool = False  # answer 503, as Rasa does while it is starting

    def turn(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Handle one gateway message once (by message id) and store its events."""
        sender, text = body["sender"], body["message"]
        message_id = (body.get("metadata") or {}).get("message_id")
        key = (sender, str(message_id))
        with self.lock:
            if message_id is not None and key in self.handled:
                return self.handled[key]
            self.messages.append(body)
            replies = self.reply(sender, text)
            self.store(sender, [
                {"event": "user", "text": text, "message_id": message_id,
                 "metadata": body.get("metadata") or {}, "parse_data": {}},
                *({"event": "bot", "text": r.get("text"),
                   "data": {"buttons": r.get("buttons")}, "metadata": {}} for r in replies),
                *([{"event": "pause"}] if replies and sender in self.paused
                  and text in ("/ask_human", "human please") else []),
            ])
            self.handled[key] = replies
            return replies

    def store(self, sender: str, events: list[dict[str, Any]]) -> None:
        """Commit events to the tracker store's table, as Rasa's SQL tracker store does."""
        if not self.database_url:
            return
        from sqlalchemy import create_engine

        engine = create_engine(self.database_url)
        try:
            add_events(engine, sender, events)
        finally:
            engine.dispose()

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
def running_fake_rasa(token: str = "fake-rasa-token",
                      database_url: str = "") -> Iterator[FakeRasa]:
    """Serve a FakeRasa on a free port of 127.0.0.1 for the duration of the block."""
    state = FakeRasa(token=token, database_url=database_url)

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
                if state.down:
                    self._json(503, {"detail": "the assistant is still starting"})
                    return
                self._json(200, state.turn(body))
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
                if any(e.get("event") == "pause" for e in body):
                    state.paused.add(parts[1])
                state.store(parts[1], [e for e in body if e.get("event") in ("pause", "resume")])
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
