"""The web channel's routes: widget assets, a demo page, and the chat API the widget talks to.

  GET  /widget.js, /widget.css         the embeddable widget (one <script> tag opens a chat)
  GET  /                               a demo "Nimbus Drive" page with the widget on it
  POST /chat/{id}/messages             a customer message to Rasa (bot/channels/web/turns.py),
                                       the replies; {"text": …, "id": …} (id: the widget's
                                       own id for the message, so a retry is handled once)
  GET  /chat/{id}/history              the transcript, to restore the widget after a reload
  GET  /chat/{id}/stream?after=N       Server-Sent Events: agent replies and notices as written

The chat routes send CORS headers so the widget works when embedded on another site.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.channels.web.stream import message_json, out_of_turn_events
from bot.channels.web.turns import WebTurns
from crm_store import conversations, interactions
from crm_store.api.deps import SessionDep, SessionFactoryDep
from crm_store.enums import ConversationStatus
from relay.channels import WEB

STATIC = Path(__file__).resolve().parent / "static"
ID_PREFIX_SLOT = "__RELAY_WEB_ID_PREFIX__"  # in widget.js
CONVERSATION_ID = re.compile(rf"^{re.escape(WEB.id_prefix)}[0-9a-f]{{32}}$")
MAX_MESSAGE_CHARS = 2000
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Last-Event-ID",
    "Access-Control-Max-Age": "600",
}

router = APIRouter(tags=["widget"])


class ChatMessage(BaseModel):
    """A message typed (or a button clicked) in the widget, with the widget's id for it."""

    model_config = ConfigDict(extra="forbid")

    text: str
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{8,40}$")


def turns_of(request: Request) -> WebTurns:
    """FastAPI dependency: the app's WebTurns (built by relay.app's lifespan)."""
    turns: WebTurns = request.app.state.web_turns
    return turns


WebTurnsDep = Annotated[WebTurns, Depends(turns_of)]


def checked_id(conversation_id: str) -> str:
    """The conversation id if it is a widget id; 400 with a sentence otherwise."""
    if not CONVERSATION_ID.fullmatch(conversation_id):
        raise HTTPException(
            status_code=400,
            detail=f"The conversation id must be '{WEB.id_prefix}' followed by 32 lowercase hex "
                   "characters.",
            headers=CORS_HEADERS,
        )
    return conversation_id


ConversationId = Annotated[str, Depends(checked_id)]


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def demo_page() -> FileResponse:
    """A demo product page with the widget on it."""
    return FileResponse(STATIC / "demo.html", media_type="text/html")


@router.get("/widget.js", include_in_schema=False)
def widget_js() -> Response:
    """The widget script, with the web channel's conversation-id prefix filled in."""
    script = (STATIC / "widget.js").read_text().replace(ID_PREFIX_SLOT, WEB.id_prefix)
    return Response(script, media_type="application/javascript",
                    headers={"Cache-Control": "no-cache", **CORS_HEADERS})


@router.get("/widget.css", include_in_schema=False)
def widget_css() -> FileResponse:
    """The widget's stylesheet (loaded by widget.js)."""
    return FileResponse(STATIC / "widget.css", media_type="text/css",
                        headers={"Cache-Control": "no-cache", **CORS_HEADERS})


@router.options("/chat/{conversation_id}/{rest:path}", include_in_schema=False)
def chat_preflight(conversation_id: str, rest: str) -> Response:
    """CORS preflight for the chat routes."""
    return Response(status_code=204, headers=CORS_HEADERS)


MESSAGE_BODY = {"required": True,
                "content": {"application/json": {"schema": ChatMessage.model_json_schema()}}}


@router.post("/chat/{conversation_id}/messages", openapi_extra={"requestBody": MESSAGE_BODY})
async def post_message(
    conversation_id: ConversationId, request: Request, turns: WebTurnsDep, response: Response,
) -> dict[str, Any]:
    """Hand a customer message to Rasa and return the bot's replies."""
    try:
        message = ChatMessage.model_validate_json(await request.body())
    except ValidationError:
        raise HTTPException(status_code=422, headers=CORS_HEADERS,
                            detail='Send a JSON object with the text and, optionally, your id '
                                   'for the message (8-40 letters, digits, "-" or "_"), e.g. '
                                   '{"text": "Hello", "id": "3f2a9c1e"}.') from None
    text = message.text.strip()
    if not text:
        raise HTTPException(status_code=422, detail="The message is empty.", headers=CORS_HEADERS)
    if len(text) > MAX_MESSAGE_CHARS:
        raise HTTPException(
            status_code=413,
            detail=f"The message is too long: at most {MAX_MESSAGE_CHARS} characters, "
                   f"this one has {len(text)}.",
            headers=CORS_HEADERS,
        )
    wait = await asyncio.to_thread(request.app.state.chat_limit.take, conversation_id)
    if wait:
        raise HTTPException(status_code=429, headers={**CORS_HEADERS, "Retry-After": str(wait)},
                            detail=f"Too many messages in a minute: please wait {wait} s.")
    replies = await turns.take(conversation_id=conversation_id, text=text,
                               message_id=message.id or uuid.uuid4().hex)
    response.headers.update(CORS_HEADERS)
    return {"replies": [reply.as_json() for reply in replies]}


@router.get("/chat/{conversation_id}/history")
def history(
    conversation_id: ConversationId, session: SessionDep, response: Response
) -> dict[str, Any]:
    """The conversation's messages so far (no internal notes) and the id to stream from."""
    response.headers.update(CORS_HEADERS)
    conversation = conversations.get(session=session, conversation_id=conversation_id)
    rows = interactions.list_for_conversation(session=session, conversation_id=conversation_id,
                                              include_notes=False)
    return {
        "conversation_id": conversation_id,
        "status": conversation.status if conversation else ConversationStatus.BOT,
        "messages": [message_json(row) for row in rows],
        "last_id": rows[-1].id if rows else 0,
    }


@router.get("/chat/{conversation_id}/stream")
async def stream(
    conversation_id: ConversationId,
    request: Request,
    sessions: SessionFactoryDep,
    after: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-Sent Events carrying agent replies and notices with id > after (or Last-Event-ID)."""
    if last_event_id and last_event_id.isdigit():
        after = max(after, int(last_event_id))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **CORS_HEADERS}
    feed = request.app.state.changes
    return StreamingResponse(out_of_turn_events(request, sessions, conversation_id, after, feed),
                             media_type="text/event-stream", headers=headers)
