"""A local stand-in for the Telegram Bot API, so the real python-telegram-bot code can be tested.

Serves `POST /bot<token>/<method>` on 127.0.0.1 with the Bot API's JSON envelope
(`{"ok": true, "result": ...}`): getMe, getUpdates, sendMessage, sendPhoto and sendDocument
(recorded; a file uploaded as multipart is recorded with its name, type and bytes),
answerCallbackQuery, editMessageReplyMarkup, setWebhook, deleteWebhook, getWebhookInfo,
getFile. Every call is recorded with its parameters and the time it came. Files put there with
`add_file` are served like Telegram serves them: getFile gives a file_path, `GET
/file/bot<token>/<file_path>` the bytes (each download is recorded as a "download" call); an
unknown file_id is a 400.

getUpdates behaves like Telegram's: a call confirms (drops for good) the queued updates whose id
is below its offset and returns the rest, long-poll style. An update queued later is not
confirmed by an earlier call, even with a lower id (Telegram picks ids at random after a week
without updates). sendMessage can be made to fail the way Telegram fails: a chat
that blocked the bot (403), flood control (429 with retry_after), server errors (5xx).
"""

from __future__ import annotations

import email.policy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "Relay", "username": "relay_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False,
            "supports_inline_queries": False}


@dataclass
class FakeBotApi:
    """The fake server's state: queued updates and the calls it received."""

    token: str
    url: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # time.monotonic() of each call
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_message_id: int = 1000
    lock: threading.Condition = field(default_factory=threading.Condition)
    blocked: set[int] = field(default_factory=set)  # chats that blocked the bot
    failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # next sends' fate
    files: dict[str, bytes] = field(default_factory=dict)  # file_id -> the file's bytes

    def add_file(self, file_id: str, data: bytes) -> None:
        """Make a file downloadable through getFile (as if a customer had sent it)."""
        self.files[file_id] = data

    def download(self, file_path: str) -> bytes | None:
        """The bytes at a file_path getFile gave, or None."""
        with self.lock:
            self.calls.append(("download", {"file_path": file_path}))
            self.times.append(time.monotonic())
        return self.files.get(file_path.removeprefix("files/"))

    def queue_update(self, update: dict[str, Any]) -> None:
        """Make an update available to getUpdates."""
        with self.lock:
            self.updates.append(update)
            self.lock.notify_all()

    def fail_sends(self, status: int, times: int = 1, retry_after: int | None = None) -> None:
        """Make the next `times` sendMessage calls answer `status` (429: with retry_after)."""
        description = {429: "Too Many Requests: retry after", 500: "Internal Server Error",
                       502: "Bad Gateway"}.get(status, "Error")
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
            body["description"] = f"Too Many Requests: retry after {retry_after}"
        self.failures.extend([(status, body)] * times)

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The sendMessage calls Telegram accepted (optionally to one chat)."""
        return [p for m, p in list(self.calls) if m == "sendMessage" and not p.get("_refused")
                and (chat_id is None or int(p["chat_id"]) == chat_id)]

    def sent_files(self, chat_id: int | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(method, parameters) of the sendPhoto and sendDocument calls Telegram accepted."""
        return [(m, p) for m, p in list(self.calls) if m in FILE_METHODS
                and not p.get("_refused") and (chat_id is None or int(p["chat_id"]) == chat_id)]

    def tried(self) -> list[tuple[float, dict[str, Any]]]:
        """(time, parameters) of every sendMessage call, refused ones included."""
        return [(t, p) for t, (m, p) in zip(list(self.times), list(self.calls), strict=False)
                if m == "sendMessage"]

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
        with self.lock:
            self.calls.append((method, params))
            self.times.append(time.monotonic())
        if method == "getMe":
            return 200, {"ok": True, "result": BOT_USER}
        if method == "getUpdates":
            timeout = min(float(params.get("timeout") or 0), 1.0)
            deadline = time.monotonic() + timeout
            with self.lock:
                offset = params.get("offset")
                if offset is not None:
                    self.updates = [u for u in self.updates if u["update_id"] >= int(offset)]
                while True:
                    pending = list(self.updates)
                    if pending or time.monotonic() >= deadline:
                        break
                    self.lock.wait(deadline - time.monotonic())
            return 200, {"ok": True, "result": pending}
        if method == "sendMessage":
            return self._send(params)
        if method in FILE_METHODS:
            return self._send(params, file_field=FILE_METHODS[method])
        if method == "editMessageReplyMarkup":
            return 200, {"ok": True, "result": True}
        if method in ("answerCallbackQuery", "setWebhook", "deleteWebhook", "close", "logOut"):
            return 200, {"ok": True, "result": True}
        if method == "getFile":
            file_id = str(params.get("file_id", ""))
            if file_id not in self.files:
                return 400, {"ok": False, "error_code": 400,
                             "description": "Bad Request: invalid file_id"}
            return 200, {"ok": True, "result": {
                "file_id": file_id, "file_unique_id": f"u-{file_id}",
                "file_size": len(self.files[file_id]), "file_path": f"files/{file_id}"}}
        if method == "getWebhookInfo":
            return 200, {"ok": True, "result": {"url": "", "has_custom_certificate": False,
                                                "pending_update_count": 0}}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}


    def _send(self, params: dict[str, Any],
              file_field: str | None = None) -> tuple[int, dict[str, Any]]:
        refusal: tuple[int, dict[str, Any]] | None = None
        with self.lock:
            if self.failures:
                refusal = self.failures.pop(0)
        if refusal is None and int(params["chat_id"]) in self.blocked:
            refusal = 403, {"ok": False, "error_code": 403,
                            "description": "Forbidden: bot was blocked by the user"}
        if refusal is None and file_field is None and not str(params.get("text") or "").strip():
            refusal = 400, {"ok": False, "error_code": 400,
                            "description": "Bad Request: message text is empty"}
        if refusal is None and file_field is not None and not isinstance(
                params.get(file_field), dict):
            refusal = 400, {"ok": False, "error_code": 400,
                            "description": f"Bad Request: there is no {file_field} in the request"}
        if refusal is not None:
            params["_refused"] = refusal[0]
            return refusal
        message = self._message(params)
        if file_field == "photo":
            message["photo"] = [{"file_id": f"sent-{self.next_message_id}",
                                 "file_unique_id": f"u-sent-{self.next_message_id}",
                                 "width": 1, "height": 1}]
        elif file_field == "document":
            message["document"] = {"file_id": f"sent-{self.next_message_id}",
                                   "file_unique_id": f"u-sent-{self.next_message_id}",
                                   "file_name": params["document"]["filename"]}
        if file_field is not None and params.get("caption"):
            message["caption"] = params["caption"]
        return 200, {"ok": True, "result": message}


FILE_METHODS = {"sendPhoto": "photo", "sendDocument": "document"}  # method -> its file field


def _params(content_type: str, body: bytes) -> dict[str, Any]:
    """Parameters from a form-encoded or JSON body; JSON-looking form values are decoded."""
    if not body:
        return {}
    if content_type.startswith("application/json"):
        return dict(json.loads(body))
    if content_type.startswith("multipart/form-data"):
        return _multipart(content_type, body)
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


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """A multipart body's fields: a file as {"filename", "content_type", "data"}, the rest as
    text (JSON-looking values decoded, as in a form-encoded body)."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    params: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            params[str(name)] = {"filename": filename, "data": data,
                                 "content_type": part.get_content_type()}
            continue
        value = data.decode()
        try:
            params[str(name)] = json.loads(value) if value[:1] in "[{" else value
        except ValueError:
            params[str(name)] = value
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

        def do_GET(self) -> None:
            prefix = f"/file/bot{state.token}/"
            path = unquote(self.path)  # python-telegram-bot sends the token's ":" as %3A
            data = state.download(path[len(prefix):]) if path.startswith(prefix) else None
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            self.wfile.write(data or b"")

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
