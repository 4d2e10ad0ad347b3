"""Rasa's input channel for the Relay gateway (loaded by Rasa from bot/credentials.yml).

Runs inside .venv-rasa, so it imports nothing from the app. It replaces Rasa's open REST
channel with one that

* accepts only the gateway: `Authorization: Bearer <RELAY_RASA_TOKEN>` (401 otherwise), a
  conversation id of the form `<channel>-<id>` and a message of at most MAX_TEXT characters
  (400 with a sentence otherwise) — the channels' own limits are checked before, in the app;
* handles a message once: the gateway names each message (`metadata.message_id`); a message
  sent again with an id the conversation already has (a load balancer retrying on another
  Rasa server after one died) gets the stored replies, and is not handled a second time;
* heals a conversation that an earlier fault left "not listening" (its last action is not
  `action_listen`, e.g. a circuit-breaker trip or a crash mid-turn): without an
  `action_listen` Rasa counts every earlier action against its limit of 10 predictions per
  turn and never answers that customer again. The tracker gets the missing `action_listen`
  under the conversation's lock, just before the new message is handled;
* never leaves a customer without an answer: when a turn produced no message while the
  conversation is not paused (the action server is down, an action failed), the tracker gets a
  fallback message (logged like any other, metadata `relay_fallback`) and Rasa's log a warning.

POST /webhooks/relay/webhook
     {"sender": "web-…", "message": "…", "metadata": {"message_id": "…", …}}
→ the bot's messages, as Rasa's REST channel returns them.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import action_client, action_validation

logger = logging.getLogger(__name__)

MAX_TEXT = 4096  # Telegram's own limit; the widget allows 2,000
SENDER = re.compile(r"^[a-z]{2,16}-[A-Za-z0-9_-]{1,64}$")
FALLBACK = ("Sorry, I couldn't answer that just now. Please try again in a moment, or ask for a "
            "person and someone from our team will reply here.")
# "/intent{...}" messages are the payloads of the bot's own buttons; only their intents may be
# given that way. Anything else typed with a leading slash ("/restart", "/back", "/help") is
# read as the words after the slash: Rasa's default intents would otherwise wipe or rewind the
# conversation without an answer.
BUTTON_INTENTS = frozenset({"affirm", "deny", "ask_human", "choose_faq", "inform",
                            "update_details", "check_case_status", "request_sales",
                            "report_problem"})
PAYLOAD = re.compile(r"^/([A-Za-z_]+)")


def as_customer_text(text: str) -> str:
    """The message as Rasa should read it: a payload only if it is one of our buttons'."""
    match = PAYLOAD.match(text)
    if match and match.group(1) not in BUTTON_INTENTS:
        return text.lstrip("/").strip() or text
    return text


def not_listening(events: list[Any]) -> bool:
    """True if the conversation's last action is not a listen: the previous turn never ended."""
    for event in reversed(events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, ActionExecuted):
            return event.action_name not in (ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME)
    return False


async def heal(processor: Any, sender_id: str, events: list[Any] | None = None) -> bool:
    """Close a turn an earlier fault left open; True if the tracker needed it."""
    if events is None:
        events = await session_events(processor, sender_id)
    if not not_listening(events):
        return False
    tracker = await processor.tracker_store.retrieve(sender_id)
    if tracker is None or tracker.is_paused() or not not_listening(list(tracker.events)):
        return False
    tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
    await processor.save_tracker(tracker)
    logger.warning("conversation %s was not listening (a turn never ended); healed", sender_id)
    return True


MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _store_of(processor: Any) -> Any:
    """The tracker store under Rasa's FailSafe/Awaitable wrappers."""
    store = processor.tracker_store
    while hasattr(store, "_tracker_store"):
        store = store._tracker_store
    return store


async def session_events(processor: Any, sender_id: str) -> list[Any]:
    """The events of the conversation's current session (bot.tracker_store: no tracker built)."""
    store = _store_of(processor)
    if hasattr(store, "current_events"):
        with contextlib.suppress(Exception):  # the store's fallback is Rasa's, below
            return list(store.current_events(sender_id))
    tracker = await processor.tracker_store.retrieve(sender_id)
    return [] if tracker is None else list(tracker.events)


def replies_to(events: list[Any], message_id: str, sender_id: str) -> list[dict[str, Any]] | None:
    """The bot's messages that answered the message with this id, or None if it is not stored.

    Rasa stores a turn's events together at its end, so a stored message has its answers.
    """
    for index, event in enumerate(events):
        if isinstance(event, UserUttered) and event.message_id == message_id:
            answered = []
            for later in events[index + 1:]:
                if isinstance(later, UserUttered):
                    break
                if isinstance(later, BotUttered):
                    data = {key: value for key, value in (later.data or {}).items() if value}
                    answered.append({"recipient_id": sender_id, "text": later.text, **data})
            return answered
    return None


async def answer_silence(processor: Any, sender_id: str) -> list[dict[str, Any]]:
    """The fallback message for a turn that produced none, unless the bot is paused."""
    tracker = await processor.tracker_store.retrieve(sender_id)
    if tracker is None or tracker.is_paused():
        return []
    tracker.update(BotUttered(FALLBACK, metadata={"relay_fallback": "empty_reply"}))
    await processor.save_tracker(tracker)
    logger.warning("conversation %s: the turn produced no reply (is the action server up?); "
                   "sent the fallback message", sender_id)
    return [{"recipient_id": sender_id, "text": FALLBACK}]


def _bad(detail: str, status: int = 400) -> HTTPResponse:
    return response.json({"detail": detail}, status=status)


class RelayInput(InputChannel):
    """The gateway's channel: authenticated, checked, and self-healing (see module doc)."""

    @classmethod
    def name(cls) -> str:
        return "relay"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        action_validation.install()  # Rasa loads this channel once, at start-up
        action_client.install()
        token = (credentials or {}).get("token") or os.environ.get("RELAY_RASA_TOKEN", "")
        return cls(token=str(token))

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("the relay channel needs a token: set RELAY_RASA_TOKEN")
        self.token = token

    def _authorised(self, request: Request) -> bool:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint("relay_webhook", __name__)

        @webhook.listener("after_server_stop")
        async def close_action_sessions(*_: Any) -> None:
            await action_client.close_sessions()

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self._authorised(request):
                return _bad("missing or wrong bearer token", 401)
            body = request.json if isinstance(request.json, dict) else None
            if body is None:
                return _bad('send a JSON object: {"sender": …, "message": …, "metadata": {…}}')
            sender, text = body.get("sender"), body.get("message")
            metadata = body.get("metadata")
            metadata = {} if metadata is None else metadata
            if not isinstance(sender, str) or not SENDER.fullmatch(sender):
                return _bad("sender must look like '<channel>-<id>' (letters, digits, - and _)")
            if not isinstance(text, str) or not text.strip():
                return _bad("message must be a non-empty string")
            if len(text) > MAX_TEXT:
                return _bad(f"message is too long: at most {MAX_TEXT} characters", 413)
            if not isinstance(metadata, dict):
                return _bad("metadata must be an object")
            agent = request.app.ctx.agent
            if agent is None or not agent.is_ready():
                return _bad("the assistant is still starting", 503)
            message_id = metadata.get("message_id")
            if message_id is not None and (not isinstance(message_id, str)
                                           or not MESSAGE_ID.fullmatch(message_id)):
                return _bad("metadata.message_id must be 1-64 letters, digits, - or _")
            collector = CollectingOutputChannel()
            message = UserMessage(as_customer_text(text), collector, sender,
                                  input_channel=self.name(),
                                  metadata=metadata, message_id=message_id)
            store = _store_of(agent.processor)
            turn = store.turn(sender) if hasattr(store, "turn") else contextlib.nullcontext()
            async with agent.lock_store.lock(sender):
                with turn:
                    events = await session_events(agent.processor, sender)
                    answered = (None if message_id is None
                                else replies_to(events, message_id, sender))
                    if answered is not None:  # a resend: handled once, answered again
                        logger.info("message %s of %s was handled already", message_id, sender)
                        return response.json(answered)
                    await heal(agent.processor, sender, events)
                    await agent.processor.handle_message(message)
                    replies = collector.messages or await answer_silence(agent.processor, sender)
            return response.json(replies)

        return webhook
