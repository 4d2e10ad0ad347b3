"""A local stand-in for the Telegram Bot API, so the real python-telegram-bot code can be tested.

Serves `POST /bot<token>/<method>` on 127.0.0.1 with the Bot API's JSON envelope
(`{"ok": true, "result": ...}`): getMe, getUpdates (serving queued updates, long-poll style),
sendMessage (recorded), answerCallbackQuery, editMessageReplyMarkup, setWebhook, deleteWebhook,
getWebhookInfo. Every call is recorded with its parameters.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "Relay", "username": "relay_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False,
            "supports_inline_queries": False}


@dataclass
class FakeBotApi:
    """The fake server's state: queued updates and the calls it received."""

    token: str
    url: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    served: int = 0
    next_message_id: int = 1000
    lock: threading.Condition = field(default_factory=threading.Condition)

    def queue_update(self, update: dict[str, Any]) -> None:
        """Make an update available to getUpdates."""
        with self.lock:
            self.updates.append(update)
            self.lock.notify_all()

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The sendMessage calls (optionally to one chat)."""
        return [p for m, p in list(self.calls) if m == "sendMessage"
                and (chat_id is None or int(p["chat_id"]) == chat_id)]

    def methods(self) -> list[str]:
        """Names of the methods called, in order."""
        return [m for m, _ in list(self.calls)]

    def wait_for(self, condition: Any, timeout: float = 10.0) -> Any:
        """Poll condition() until truthy; AssertionError after timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            time.sleep(0.05)
        raise AssertionError(f"timed out; calls so far: {self.calls}")

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        self.next_message_id += 1
        message = {"message_id": self.next_message_id, "date": int(time.time()),
                   "chat": {"id": int(params["chat_id"]), "type": "private"},
                   "from": BOT_USER, "text": params.get("text", "")}
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The Bot API's answer to one call."""
        self.calls.append((method, params))
        if method == "getMe":
            return 200, {"ok": True, "result": BOT_USER}
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            timeout = min(float(params.get("timeout") or 0), 1.0)
            deadline = time.monotonic() + timeout
            with self.lock:
                while True:
                    pending = [u for u in self.updates[self.served:] if u["update_id"] >= offset]
                    if pending or time.monotonic() >= deadline:
                        break
                    self.lock.wait(deadline - time.monotonic())
                self.served = len(self.updates)
            return 200, {"ok": True, "result": pending}
        if method == "sendMessage":
            if not str(params.get("text") or "").strip():
                return 400, {"ok": False, "error_code": 400,
                             "description": "Bad Request: message text is empty"}
            return 200, {"ok": True, "result": self._message(params)}
        if method == "editMessageReplyMarkup":
            return 200, {"ok": True, "result": True}
        if method in ("answerCallbackQuery", "setWebhook", "deleteWebhook", "close", "logOut"):
            return 200, {"ok": True, "result": True}
        if method == "getWebhookInfo":
            return 200, {"ok": True, "result": {"url": "", "has_custom_certificate": False,
                                                "pending_update_count": 0}}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}


def _params(content_type: str, body: bytes) -> dict[str, Any]:
    """Parameters from a form-encoded or JSON body; JSON-looking form values are decoded."""
    if not body:
        return {}
    if content_type.startswith("application/json"):
        return dict(json.loads(body))
    params: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        if value[:1] in "[{":
            try:
                params[key] = json.loads(value)
                continue
            except ValueError:
                pass
        params[key] = value
    return params


class _QuietServer(ThreadingHTTPServer):
    """A server that does not print a traceback when a long poll is cancelled mid-answer."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@contextmanager
def running_fake_bot_api(token: str) -> Iterator[FakeBotApi]:
    """Serve a FakeBotApi on a free port for the duration of the block."""
    state = FakeBotApi(token=token)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            prefix = f"/bot{state.token}/"
            if not self.path.startswith(prefix):
                status, body = 401, {"ok": False, "error_code": 401,
                                     "description": "Unauthorized"}
            else:
                length = int(self.headers.get("Content-Length") or 0)
                params = _params(self.headers.get("Content-Type", ""), self.rfile.read(length))
                status, body = state.handle(self.path[len(prefix):], params)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = _QuietServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        with state.lock:
            state.lock.notify_all()
        server.shutdown()
        server.server_close()
