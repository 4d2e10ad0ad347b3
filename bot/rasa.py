"""A small async client for what the app uses of Rasa: its gateway channel (channels), tracker
events (the support desk hands conversations back).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request

from crm_store.support import BotUnavailable

logger = logging.getLogger(__name__)


# Rasa's input channel for the gateway (bot/rasa_channel.py), token-protected.
WEBHOOK_PATH = "/webhooks/relay/webhook"


class RasaUnavailable(BotUnavailable):
    """Rasa could not be reached, is still starting, or answered with a server error."""


class RasaRefused(RuntimeError):
    """Rasa refused the message itself (a 4xx): sending it again cannot help."""


@dataclass(frozen=True)
class Button:
    """A quick-reply button: what the customer sees and what is sent when it is clicked."""

    title: str
    payload: str


@dataclass(frozen=True)
class BotReply:
    """One message of the bot: text and optional buttons."""

    text: str
    buttons: list[Button] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The reply as plain JSON for the widget."""
        return {"text": self.text,
                "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons]}


def parse_replies(raw: Any) -> list[BotReply]:
    """Bot replies from the REST channel's JSON list; images and custom payloads are skipped."""
    replies: list[BotReply] = []
    if not isinstance(raw, list):
        return replies
    for item in raw:
        if not isinstance(item, dict):
            continue
        buttons = [
            Button(title=str(b.get("title") or b.get("payload") or ""),
                   payload=str(b.get("payload") or b.get("title") or ""))
            for b in item.get("buttons") or []
            if isinstance(b, dict) and (b.get("payload") or b.get("title"))
        ]
        text = item.get("text")
        if text or buttons:
            replies.append(BotReply(text=str(text or ""), buttons=buttons))
    return replies


class RasaClient:
    """Talks to one Rasa server; built at start-up, closed at shutdown."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def send_message(
        self, *, sender: str, text: str, channel: str, message_id: str | None = None,
        in_turn: bool = True, language: str | None = None, language_hint: str | None = None,
        received_at: datetime | None = None,
    ) -> list[BotReply]:
        """Forward one customer message to the gateway channel; the bot's replies to it.

        message_id is the channel's id for the message (one is made if there is none): Rasa
        handles a message id once and answers a repeat with the replies it gave, so the gateway
        retrying after a crash, or a load balancer retrying on another Rasa server, is safe.
        in_turn=False tells the CRM nobody waits for this HTTP answer (a replayed message), so
        the replies are delivered out of turn. language: the language the customer chose (the
        widget's switch); language_hint: their client's (browser, Telegram app), for a first
        message too short to tell (actions/languages.py); received_at: when the customer sent
        it, so the CRM logs it then however late Rasa handles it (crm_store.ingest).
        """
        metadata: dict[str, Any] = {"channel": channel,
                                    "message_id": message_id or uuid.uuid4().hex}
        if not in_turn:
            metadata["in_turn"] = False
        if language:
            metadata["language"] = language
        if language_hint:
            metadata["language_hint"] = language_hint
        if received_at is not None:
            metadata["received_at"] = received_at.timestamp()
        body: dict[str, Any] = {"sender": sender, "message": text, "metadata": metadata}
        try:
            response = await self._http.post(
                f"{self.base_url}{WEBHOOK_PATH}", json=body,
                # the cluster's HAProxy routes a conversation to one Rasa server by this header
                headers={"Authorization": f"Bearer {self._token}",
                         "X-Relay-Conversation": sender},
            )
        except httpx.HTTPError as error:
            raise RasaUnavailable(f"Rasa is not reachable at {self.base_url}: {error}") from None
        if response.status_code >= 500:
            raise RasaUnavailable(f"Rasa answered {response.status_code} for {sender}")
        if response.status_code >= 300:
            raise RasaRefused(f"Rasa refused the message of {sender}: {response.status_code} "
                              f"{response.text[:200]}")
        return parse_replies(response.json())

    async def _tracker_events(self, conversation_id: str, events: list[dict[str, Any]],
                              what: str) -> None:
        url = f"{self.base_url}/conversations/{conversation_id}/tracker/events"
        try:
            response = await self._http.post(url, params={"token": self._token}, json=events)
        except httpx.HTTPError as error:
            raise RasaUnavailable(f"Rasa is not reachable at {self.base_url}: {error}") from None
        if response.status_code >= 300:
            raise RasaUnavailable(
                f"Rasa refused to {what} {conversation_id}: {response.status_code}")

    async def pause(self, *, conversation_id: str) -> None:
        """Stop the bot answering a conversation a person has (the CRM's handoff status)."""
        await self._tracker_events(conversation_id, [{"event": "pause"}], "pause")

    async def resume(self, *, conversation_id: str) -> None:
        """Un-pause a handed-off conversation so the bot answers again (resets failed_turns)."""
        # action_listen closes the turn, so the customer's next message starts a clean prediction
        # instead of following the user messages Rasa logged (unanswered) while paused.
        events: list[dict[str, Any]] = [
                  {"event": "resume"}, {"event": "slot", "name": "failed_turns", "value": 0},
                  {"event": "action", "name": "action_listen"}]
        await self._tracker_events(conversation_id, events, "resume")


def rasa_of(request: Request) -> RasaClient:
    """FastAPI dependency: the app's Rasa client (built by relay.app's lifespan)."""
    client: RasaClient = request.app.state.rasa
    return client


RasaDep = Annotated[RasaClient, Depends(rasa_of)]
