"""The web channel's routes: widget assets, a demo page, and the chat API the widget talks to.

  GET  /widget.js, /widget.css         the embeddable widget (one <script> tag opens a chat)
  GET  /demo.js                        the demo page's language switch
  GET  /                               a demo "Nimbus Drive" page with the widget on it
  POST /chat/{id}/identity             the host page's signed-in user, verified by its HMAC
  POST /chat/{id}/messages             a customer message to Rasa (bot/channels/web/turns.py),
                                       the replies; {"text": …, "id": …, "language": …} (id:
                                       the widget's own id for the message, so a retry is
                                       handled once; language: the widget's switch)
  GET  /chat/{id}/history              the transcript, to restore the widget after a reload
  GET  /chat/{id}/stream?after=N       Server-Sent Events: agent replies and notices as written
  POST /chat/{id}/attachments?name=…   a file the customer sends (the body is its bytes): an
                                       image or a PDF, stored by the CRM with a message
                                       (bot/channels/inbound.receive_file); 415/413/422 say why
                                       one is refused
  GET  /chat/{id}/attachments/{n}      a file of this conversation (404 for any other's)
  POST /chat/{id}/rating               the customer's 1-5 rating of a resolved handoff
  POST /chat/{id}/typing               the customer is typing (the agent's console shows it)

The chat routes send CORS headers so the widget works when embedded on another site. A widget
conversation id is the visitor's bearer secret (SECURITY.md): whoever holds it reads that
conversation and its files, and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.channels import inbound
from bot.channels.inbound import GATEWAY
from bot.channels.typing import TypingBoard, Typist, board
from bot.channels.web.stream import file_url, messages_json, out_of_turn_events
from bot.channels.web.turns import WebTurns
from crm_store import (
    attachments,
    audit,
    changes,
    conversations,
    events,
    interactions,
    plain_text,
    ratings,
    verification,
)
from crm_store.api.deps import SessionDep, SessionFactoryDep, SettingsDep
from crm_store.api.files import file_response, refused_status
from crm_store.enums import ConversationStatus
from crm_store.errors import InvalidValue
from crm_store.models import MAX_ID
from crm_store.schemas import PathId
from relay import languages, responses
from relay.channels import WEB

logger = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
ID_PREFIX_SLOT = "__RELAY_WEB_ID_PREFIX__"  # in widget.js
TEXTS_SLOT = "__RELAY_WIDGET_TEXTS__"  # in widget.js: widget_texts()
WELCOME = "utter_widget_welcome"  # domain.yml
CONVERSATION_ID = re.compile(rf"^{re.escape(WEB.id_prefix)}[0-9a-f]{{32}}$")
MAX_MESSAGE_CHARS = 2000
# The upload route reads its body itself, up to settings.attachment_max_bytes (relay.app lets
# this path past the app's 1 MiB body limit, up to the same figure).
UPLOAD_PATH = re.compile(rf"^/chat/{re.escape(WEB.id_prefix)}[0-9a-f]{{32}}/attachments$")
MESSAGE_ID = r"^[A-Za-z0-9_-]{8,40}$"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Last-Event-ID",
    "Access-Control-Max-Age": "600",
}

RATING_ACTOR = "service:web-widget"  # the customer, through the widget, in the audit log

router = APIRouter(tags=["widget"])


class Rating(BaseModel):
    """The satisfaction rating the widget offers after a resolved handoff."""

    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=ratings.MAX_COMMENT_CHARS)


class SignedIdentity(BaseModel):
    """The host page's signed-in user: its id, and the HMAC-SHA256 of the id that the host's
    backend made with RELAY_IDENTITY_SECRET (SECURITY.md); email and name are not signed."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=200)
    user_hash: str = Field(min_length=1, max_length=128)
    email: str | None = Field(default=None, max_length=320)
    name: str | None = Field(default=None, max_length=200)


class ChatMessage(BaseModel):
    """A message typed (or a button clicked) in the widget, with the widget's id for it;
    language: the one the customer chose with the widget's switch (absent: detected from what
    they write)."""

    model_config = ConfigDict(extra="forbid")

    text: str
    language: str | None = None
    id: str | None = Field(default=None, pattern=MESSAGE_ID)


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


async def raw_body(request: Request) -> bytes:
    """The request body as sent; the routes validate it themselves to answer with CORS
    headers."""
    return await request.body()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def demo_page() -> FileResponse:
    """A demo product page with the widget on it."""
    return FileResponse(STATIC / "demo.html", media_type="text/html")


def widget_texts(max_file_bytes: int) -> str:
    """What the widget needs from the server, as JSON: the languages Relay speaks (code → its
    own name), the bot's welcome in each (domain.yml's utter_widget_welcome), and the largest
    file it may send (bytes, and for people)."""
    return json.dumps({
        "languages": {code: lang.native for code, lang in languages.LANGUAGES.items()},
        "welcome": responses.translations(WELCOME),
        "max_file_bytes": max_file_bytes,
        "max_file_size": attachments.human_size(max_file_bytes),
    }, ensure_ascii=False)


@router.get("/widget.js", include_in_schema=False)
def widget_js(settings: SettingsDep) -> Response:
    """The widget script, with the web channel's conversation-id prefix and texts filled in."""
    texts = widget_texts(settings.attachment_max_bytes)
    script = ((STATIC / "widget.js").read_text(encoding="utf-8")
              .replace(ID_PREFIX_SLOT, WEB.id_prefix).replace(TEXTS_SLOT, texts))
    return Response(script, media_type="application/javascript; charset=utf-8",
                    headers={"Cache-Control": "no-cache", **CORS_HEADERS})


@router.get("/demo.js", include_in_schema=False)
def demo_js() -> FileResponse:
    """The demo page's language switch (a file, not inline: the CSP allows no inline script)."""
    return FileResponse(STATIC / "demo.js", media_type="text/javascript")


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
    conversation_id: ConversationId, body: Annotated[bytes, Depends(raw_body)],
    turns: WebTurnsDep, response: Response, request: Request,
    typing_board: Annotated[TypingBoard, Depends(board)],
) -> dict[str, Any]:
    """Hand a customer message to Rasa and return the bot's replies."""
    try:
        message = ChatMessage.model_validate_json(body)
    except ValidationError:
        raise HTTPException(status_code=422, headers=CORS_HEADERS,
                            detail='Send a JSON object with the text and, optionally, your id '
                                   'for the message (8-40 letters, digits, "-" or "_") and a '
                                   'language, e.g. {"text": "Hello", "id": "3f2a9c1e", '
                                   '"language": "es"}.') from None
    text = plain_text.clean(message.text).strip()  # "\x00" alone is empty too
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
    if message.language is not None and not languages.supported(message.language):
        raise HTTPException(
            status_code=422, headers=CORS_HEADERS,
            detail=f"The language must be one of {', '.join(languages.CODES)}, "
                   f"not {message.language[:20]!r}.")
    typing_board.stop(conversation_id, Typist.CUSTOMER)  # sent: no longer typing
    replies = await turns.take(conversation_id=conversation_id, text=text,
                               message_id=message.id or uuid.uuid4().hex,
                               language=message.language,
                               language_hint=request.headers.get("accept-language"))
    response.headers.update(CORS_HEADERS)
    return {"replies": [reply.as_json() for reply in replies]}


FILE_BODY = {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}


async def _file_bytes(request: Request, max_bytes: int) -> bytes:
    """The request body, read up to max_bytes (FileTooLarge beyond, whatever the headers
    say)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise attachments.FileTooLarge(max_bytes)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > max_bytes:
            raise attachments.FileTooLarge(max_bytes)
    return bytes(data)


@router.post("/chat/{conversation_id}/attachments", status_code=201,
             openapi_extra={"requestBody": FILE_BODY},
             responses={413: {"description": "The file is over the limit"},
                        415: {"description": "The file is not an image or a PDF"},
                        429: {"description": "Too many messages in a minute"}})
async def upload(
    conversation_id: ConversationId, request: Request, sessions: SessionFactoryDep,
    settings: SettingsDep, response: Response,
    name: Annotated[str | None, Query(max_length=255)] = None,
    id: Annotated[str | None, Query(pattern=MESSAGE_ID)] = None,
    language: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    """Store a file the customer sends (the body: its bytes; name: its file name; id: the
    widget's id for it, so a retry stores it once); the message and our answer, if any."""
    wait = await asyncio.to_thread(request.app.state.chat_limit.take, conversation_id)
    if wait:
        raise HTTPException(status_code=429, headers={**CORS_HEADERS, "Retry-After": str(wait)},
                            detail=f"Too many messages in a minute: please wait {wait} s.")
    if language is not None and not languages.supported(language):
        raise HTTPException(
            status_code=422, headers=CORS_HEADERS,
            detail=f"The language must be one of {', '.join(languages.CODES)}.")
    try:
        data = await _file_bytes(request, settings.attachment_max_bytes)
        received = await asyncio.to_thread(
            inbound.receive_file, sessions=sessions, conversation_id=conversation_id,
            channel=WEB.name, data=data, filename=name, max_bytes=settings.attachment_max_bytes,
            message_id=id or uuid.uuid4().hex, language=language,
            hint=request.headers.get("accept-language"))
    except attachments.FileRefused as refused:
        raise HTTPException(status_code=refused_status(refused),
                            detail=str(refused), headers=CORS_HEADERS) from None
    response.headers.update(CORS_HEADERS)
    message = {"id": received.interaction_id, "author": "customer", "direction": "inbound",
               "text": received.text, "created_at": received.created_at.isoformat(),
               "attachment": {**received.file,
                              "url": file_url(conversation_id, received.file["id"])}}
    return {"message": message,
            "replies": [{"text": received.reply}] if received.reply is not None else []}


@router.get("/chat/{conversation_id}/attachments/{attachment_id}",
            responses={200: {"content": {t: {} for t in attachments.TYPES}},
                       404: {"description": "No such file in this conversation"}})
def download(conversation_id: ConversationId, attachment_id: PathId,
             session: SessionDep) -> Response:
    """A file the customer sent in this conversation: its bytes, never run by the browser."""
    stored = attachments.get(session=session, attachment_id=attachment_id,
                             conversation_id=conversation_id)
    if stored is None:
        raise HTTPException(404, "There is no such file in this conversation.")
    return file_response(stored)


IDENTITY_BODY = {"required": True,
                 "content": {"application/json": {"schema": SignedIdentity.model_json_schema()}}}
REFUSED = ("The identity could not be verified: user_hash must be the HMAC-SHA256 of user_id "
           "made with this site's identity secret.")


@router.post("/chat/{conversation_id}/identity", openapi_extra={"requestBody": IDENTITY_BODY},
             responses={403: {"description": "The HMAC does not match"}})
def identity(
    conversation_id: ConversationId, body: Annotated[bytes, Depends(raw_body)],
    session: SessionDep, settings: SettingsDep, response: Response,
) -> dict[str, Any]:
    """Verify the conversation as the host page's signed-in user (Intercom-style HMAC)."""
    try:
        signed = SignedIdentity.model_validate_json(body)
    except ValidationError:
        raise HTTPException(status_code=422, headers=CORS_HEADERS, detail=(
            'Send a JSON object {"user_id": …, "user_hash": …} (email and name optional).'
        )) from None
    if not verification.identity_hash_ok(settings.identity_secret, signed.user_id,
                                         signed.user_hash):
        # Audited, and the 403 returned (not raised) so that the audit row is committed.
        audit.record(session=session, actor=GATEWAY, action="identity_refused",
                     entity=conversations.ENTITY, entity_id=conversation_id,
                     after={"user_id": signed.user_id})
        return JSONResponse({"detail": REFUSED}, status_code=403,  # type: ignore[return-value]
                            headers=CORS_HEADERS)
    try:
        verification.verify_website_user(
            session=session, conversation_id=conversation_id, external_id=signed.user_id,
            email=signed.email, name=signed.name, actor=GATEWAY)
    except InvalidValue as error:
        raise HTTPException(status_code=409, detail=str(error), headers=CORS_HEADERS) from None
    response.headers.update(CORS_HEADERS)
    return {"verified": True}


@router.get("/chat/{conversation_id}/history")
def history(
    conversation_id: ConversationId, sessions: SessionFactoryDep, session: SessionDep,
    response: Response,
) -> dict[str, Any]:
    """The conversation's messages so far (no internal notes) and the id to stream from."""
    response.headers.update(CORS_HEADERS)
    # Rasa commits a turn's events before it answers and the API's follower applies them a
    # moment later: a reload in that moment would restore the transcript without the last turn.
    try:
        events.consume(sessions=sessions, actor=events.RASA_EVENTS)
    except Exception as error:  # the follower applies them later; the history is still served
        logger.warning("reading Rasa's events before a widget's history failed: %s", error)
    conversation = conversations.get(session=session, conversation_id=conversation_id)
    rows = interactions.list_for_conversation(session=session, conversation_id=conversation_id,
                                              include_notes=False)
    return {
        "conversation_id": conversation_id,
        "status": conversation.status if conversation else ConversationStatus.BOT,
        "language": conversation.language if conversation else None,
        "messages": messages_json(session, rows),
        # The stream resumes from an id: the highest, not the last message's (see TRANSCRIPT_ORDER).
        "last_id": max((row.id for row in rows), default=0),
        # Resolved while the customer was away (or before a reload): the widget asks now.
        "rating_due": ratings.due(session=session, conversation_id=conversation_id),
    }


@router.get("/chat/{conversation_id}/stream")
async def stream(
    conversation_id: ConversationId,
    request: Request,
    sessions: SessionFactoryDep,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-Sent Events carrying agent replies and notices with id > after (or Last-Event-ID)."""
    if last_event_id and last_event_id.isdigit() and int(last_event_id) <= MAX_ID:
        after = max(after, int(last_event_id))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **CORS_HEADERS}
    feed = request.app.state.changes
    return StreamingResponse(out_of_turn_events(request, sessions, conversation_id, after, feed),
                             media_type="text/event-stream", headers=headers)


@router.post("/chat/{conversation_id}/rating", status_code=201)
def rate(conversation_id: ConversationId, body: Rating, session: SessionDep,
         response: Response) -> dict[str, Any]:
    """Store the customer's rating of the conversation's last resolved handoff."""
    response.headers.update(CORS_HEADERS)
    try:
        rating = ratings.rate(session=session, conversation_id=conversation_id,
                              score=body.score, comment=body.comment, actor=RATING_ACTOR)
    except ratings.NothingToRate as error:
        raise HTTPException(409, str(error), headers=CORS_HEADERS) from None
    return {"score": rating.score, "comment": rating.comment}


@router.post("/chat/{conversation_id}/typing", status_code=204)
async def typing(conversation_id: ConversationId, request: Request,
                 typing_board: Annotated[TypingBoard, Depends(board)]) -> Response:
    """The customer is typing: the agent's console shows it for a few seconds."""
    typing_board.touch(conversation_id, Typist.CUSTOMER)
    request.app.state.changes.publish(changes.conversation(conversation_id))  # wake the console
    return Response(status_code=204, headers=CORS_HEADERS)
