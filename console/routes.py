"""The agent console under /console: login, queue, conversation view and the agent's actions.

Pages are server-rendered (Jinja, autoescaped); two JSON endpoints feed the live updates of the
queue and of an open conversation, which the page's script renders with textContent, re-read
when the event stream /console/api/changes says something changed (crm_store.changes). Routes are
thin: `def` routes do their database work on the request's session (SessionDep), and the one
that waits for Rasa (resolve) is `async` and leaves its database work to the support desk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.templating import Jinja2Templates

from bot.channels.typing import TypingBoard, Typist
from bot.channels.typing import board as typing_board
from bot.rasa import RasaDep
from console import views
from crm_store import (
    attachments,
    audit,
    canned,
    cases,
    changes,
    conversations,
    customer_merge,
    customers,
    leads,
    privacy,
    support,
    tags,
    users,
)
from crm_store.agent_inbox import MAX_QUERY_CHARS, InboxView
from crm_store.api import auth
from crm_store.api.deps import SessionDep, SessionFactoryDep, SettingsDep
from crm_store.api.files import file_response, refused_status
from crm_store.enums import CaseStatus, Role
from crm_store.login_throttle import retry_message, throttle_for
from crm_store.models import MAX_ID, OPEN_CASE_STATUSES, utcnow
from crm_store.schemas import PathId

HERE = Path(__file__).resolve().parent
MAX_REPLY_CHARS = 4000
CHANGES_LIFETIME_SECONDS = 300.0  # EventSource reconnects by itself
CHANGES_COALESCE_SECONDS = 0.5
NOTICES = {
    "claimed": "You have claimed this conversation.",
    "replied": "Reply sent.",
    "file-sent": "File sent.",
    "file-missing": "Choose a file first.",
    "noted": "Internal note added (not visible to the customer).",
    "resolved": "Resolved: the conversation is back with the assistant.",
    "empty": "Write something first.",
    "too-long": f"That message is too long (at most {MAX_REPLY_CHARS} characters).",
    "not-waiting": "This conversation is not handed off, so there is nothing to do here.",
    "taken": "Another agent has already claimed this conversation.",
    "rasa-down": "The assistant could not be reached, so the conversation was not handed back. "
                 "Try again in a moment.",
    "logged-out": "You are logged out.",
    "saved": "Customer record saved.",
    "stage-moved": "Lead stage changed.",
    "reopened": "Case re-opened.",
    "transferred": "Transferred: the conversation is with the other agent now.",
    "tagged": "Tags saved.",
    "merged": "Customers merged: one record now holds both.",
    "canned-saved": "Canned reply saved.",
    "canned-deleted": "Canned reply deleted.",
    "retrying": "The message will be sent again.",
    "not-failed": "That message has not failed, so there is nothing to try again.",
    "erased": "The customer and everything Relay kept about them were erased.",
}
# How each outcome answers a page script (fetch with Accept: application/json).
OUTCOME_STATUS = {"empty": 422, "too-long": 422, "not-waiting": 409, "taken": 409,
                  "rasa-down": 503}

LOGIN_ERRORS = {
    auth.Refusal.WRONG: "That email and password do not match an agent account.",
    auth.Refusal.ROLE: "This account may not use the agent console.",
}

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["notices"] = NOTICES
templates.env.filters["waiting"] = views.waiting
templates.env.filters["clock"] = views.clock

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)
FormText = Annotated[str, Form()]


@dataclass(frozen=True)
class Agent:
    """The logged-in agent and the session carrying the CSRF token."""

    principal: auth.Principal
    name: str
    email: str
    session: auth.ConsoleSession

    @property
    def id(self) -> int:
        """The agent's user id."""
        assert self.principal.user_id is not None
        return self.principal.user_id

    @property
    def actor(self) -> str:
        """How the audit log names this agent."""
        return self.principal.actor


def current_agent(request: Request, session: SessionDep, settings: SettingsDep) -> Agent:
    """The logged-in agent; otherwise redirect pages to the login form (401 for JSON)."""
    cookie = auth.read_session(request, settings)
    user = auth.console_user(session=session, cookie=cookie, roles=auth.CONSOLE_ROLES)
    if user is None:
        if request.url.path.startswith("/console/api/"):
            raise HTTPException(401, "Log in to the console first.")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, "Log in first.",
                            headers={"Location": f"/console/login?next={quote(target)}"})
    return Agent(auth.principal_of(user), user.name, user.email, cookie)


CurrentAgent = Annotated[Agent, Depends(current_agent)]


def current_admin(agent: CurrentAgent) -> Agent:
    """The logged-in agent if they are an admin; 403 otherwise."""
    if agent.principal.role != Role.ADMIN:
        raise HTTPException(403, "Only admins manage canned replies.")
    return agent


CurrentAdmin = Annotated[Agent, Depends(current_admin)]


def check_csrf(agent: Agent, token: str | None) -> None:
    """403 unless the form carries the session's CSRF token."""
    if not auth.csrf_ok(agent.session, token):
        raise HTTPException(403, "The form has expired or did not come from the console; "
                                 "reload the page and try again.")


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console/"


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200
          ) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _back(request: Request, conversation_id: str, notice: str) -> Response:
    """Back to the conversation with a notice; for a page script, the notice as JSON."""
    if _wants_json(request):
        return JSONResponse({"outcome": notice, "detail": NOTICES.get(notice, notice)},
                            status_code=OUTCOME_STATUS.get(notice, 200))
    return RedirectResponse(f"/console/conversations/{quote(conversation_id)}?notice={notice}",
                            status_code=303)


def _done(request: Request, back: str, notice: str, payload: dict[str, Any]) -> Response:
    """A change made: JSON for a page script, otherwise back to the page it came from."""
    if _wants_json(request):
        return JSONResponse({"outcome": notice, "detail": NOTICES[notice], **payload})
    target = _safe_next(back)
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}notice={notice}", status_code=303)


def _text_problem(text: str) -> str | None:
    """Why a reply or note cannot be saved ('empty', 'too-long'), or None if it can."""
    if not text:
        return "empty"
    if len(text) > MAX_REPLY_CHARS:
        return "too-long"
    return None


STATIC_FILES = {"console.css": "text/css", "console.js": "application/javascript"}


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    """The console's stylesheet and script."""
    if name not in STATIC_FILES:
        raise HTTPException(404, f"There is no console file {name}.")
    return FileResponse(HERE / "static" / name, media_type=STATIC_FILES[name],
                        headers={"Cache-Control": "no-cache"})


@router.get("/login")
def login_form(request: Request, settings: SettingsDep, next: str | None = None,
               notice: str | None = None) -> Response:
    """The login form."""
    cookie = auth.read_session(request, settings)
    response = _page(request, "login.html",
                     {"csrf": cookie.csrf, "next": _safe_next(next), "error": None,
                      "notice": notice, "email": ""})
    auth.write_session(response, request, settings, cookie)
    return response


@router.post("/login")
def login(
    request: Request, session: SessionDep, settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)], password: Annotated[str, Form(max_length=200)],
    csrf: FormText = "", next: Annotated[str, Form()] = "/console/",
) -> Response:
    """Check the credentials; on success start a new session (new CSRF token)."""
    error, status_code, wait = "The login form expired. Please try again.", 400, 0
    if auth.csrf_ok(auth.read_session(request, settings), csrf):
        try:
            user = auth.log_in(session=session, throttle=throttle_for(request.app.state),
                               email=email, password=password, roles=auth.CONSOLE_ROLES,
                               address=request.client.host if request.client else None)
        except auth.LoginRefused as refused:
            error = LOGIN_ERRORS.get(refused.reason) or retry_message(refused.retry_after)
            if refused.reason == auth.Refusal.THROTTLED:
                status_code, wait = 429, refused.retry_after
        else:
            redirect = RedirectResponse(_safe_next(next), status_code=303)
            auth.write_session(redirect, request, settings,
                               auth.console_login(session=session, user=user))
            return redirect
    fresh = auth.ConsoleSession()
    response = _page(request, "login.html",
                     {"csrf": fresh.csrf, "next": _safe_next(next), "error": error,
                      "notice": None, "email": email}, status_code=status_code)
    if wait:
        response.headers["Retry-After"] = str(wait)
    auth.write_session(response, request, settings, fresh)
    return response


@router.post("/logout")
def logout(agent: CurrentAgent, session: SessionDep, csrf: FormText = "") -> Response:
    """End the session on the server (a copy of the cookie stops working too)."""
    check_csrf(agent, csrf)
    auth.console_logout(session=session, cookie=agent.session)
    response = RedirectResponse("/console/login?notice=logged-out", status_code=303)
    auth.clear_session(response)
    return response


ViewParam = Annotated[InboxView, Query(description="mine, unassigned, all or resolved")]
SearchParam = Annotated[str | None, Query(max_length=MAX_QUERY_CHARS)]


@router.get("")
@router.get("/")
def queue_page(request: Request, agent: CurrentAgent, session: SessionDep,
               view: ViewParam = InboxView.ALL, q: SearchParam = None,
               notice: str | None = None) -> Response:
    """The inbox: one view of the handed-off conversations, optionally searched."""
    found = (customers.search(session=session, query=q, limit=20)[0] if q and q.strip() else [])
    return _page(request, "queue.html", {
        "agent": agent, "csrf": agent.session.csrf, "now": utcnow(), "notice": notice,
        "queue": views.queue(session=session, view=view, agent_id=agent.id, query=q),
        "view": view.value, "views": list(InboxView), "q": q or "", "found": found})


@router.get("/api/queue")
def queue_json(agent: CurrentAgent, session: SessionDep, view: ViewParam = InboxView.ALL,
               q: SearchParam = None) -> dict[str, Any]:
    """One view of the inbox as JSON, for the page's live updates."""
    return {"now": utcnow().isoformat(), "view": view.value,
            "queue": views.queue(session=session, view=view, agent_id=agent.id, query=q)}


@router.get("/api/changes")
async def changes_stream(request: Request, agent: CurrentAgent,
                         conversation: str | None = None) -> StreamingResponse:
    """Server-Sent Events saying when the queue (or one conversation) changed; the page then
    re-reads the JSON above. Woken by the app's change feed, never on a timer."""
    # A conversation's page hears the queue too: it announces new handoffs.
    topics = [changes.QUEUE]
    if conversation is not None:
        topics.append(changes.conversation(conversation))
    return StreamingResponse(_changed_events(request, request.app.state.changes, topics),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _changed_events(request: Request, feed: changes.ChangeFeed,
                          topics: list[str]) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    loop = asyncio.get_running_loop()
    started = last_beat = loop.time()
    async with feed.subscribe(*topics) as changed:
        while loop.time() - started < CHANGES_LIFETIME_SECONDS:
            if await request.is_disconnected():
                return
            if changed.is_set():
                changed.clear()
                yield "event: changed\ndata: {}\n\n"
                await asyncio.sleep(CHANGES_COALESCE_SECONDS)  # a burst is one re-read
            elif loop.time() - last_beat > 15:
                last_beat = loop.time()
                yield ": keep-alive\n\n"
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
                # arrives as the event is set (CPython gh-86296), and the task would run on.
                async with asyncio.timeout(1.0):
                    await changed.wait()


@router.get("/conversations/{conversation_id}")
def conversation_page(request: Request, conversation_id: str, agent: CurrentAgent,
                      session: SessionDep, settings: SettingsDep,
                      notice: str | None = None) -> Response:
    """One conversation: transcript, customer record, earlier interactions, actions."""
    detail = views.conversation_detail(session=session, conversation_id=conversation_id)
    if detail is None:
        raise HTTPException(404, f"There is no conversation {conversation_id}.")
    return _page(request, "conversation.html",
                 {"agent": agent, "csrf": agent.session.csrf, "notice": notice,
                  "max_file_size": attachments.human_size(settings.attachment_max_bytes),
                  **detail})


@router.get("/attachments/{attachment_id}")
def attachment(attachment_id: PathId, agent: CurrentAgent, session: SessionDep) -> Response:
    """A file of a conversation (a customer's or an agent's): images shown inline, PDFs
    downloaded, never run."""
    stored = attachments.get(session=session, attachment_id=attachment_id)
    if stored is None:
        raise HTTPException(404, "There is no such file (it may have been erased).")
    return file_response(stored, headers={"Cross-Origin-Resource-Policy": "same-origin"})


TypingDep = Annotated[TypingBoard, Depends(typing_board)]


@router.get("/api/conversations/{conversation_id}/messages")
def conversation_messages(conversation_id: str, agent: CurrentAgent, session: SessionDep,
                          board: TypingDep, after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0
                          ) -> dict[str, Any]:
    """Messages and notes newer than `after`, the conversation's status, whether the customer
    is typing."""
    result = views.conversation_messages(session=session, conversation_id=conversation_id,
                                         after_id=after)
    if result is None:
        raise HTTPException(404, f"There is no conversation {conversation_id}.")
    return {**result, "customer_typing": board.typing(conversation_id, Typist.CUSTOMER) is not None}


@router.post("/api/conversations/{conversation_id}/typing", status_code=204)
async def agent_typing(request: Request, conversation_id: str, agent: CurrentAgent,
                       board: TypingDep, csrf: FormText = "") -> Response:
    """The agent is typing a reply: the customer's widget shows it for a few seconds."""
    check_csrf(agent, csrf)
    if len(conversation_id) > 200:
        raise HTTPException(404, "There is no such conversation.")
    board.touch(conversation_id, Typist.AGENT, agent.name.split()[0] if agent.name else "")
    request.app.state.changes.publish(changes.conversation(conversation_id))  # wake the widget
    return Response(status_code=204)


@router.post("/conversations/{conversation_id}/claim")
def claim(request: Request, conversation_id: str, agent: CurrentAgent, session: SessionDep,
          csrf: FormText = "") -> Response:
    """Take the conversation: status "agent", assigned to me."""
    check_csrf(agent, csrf)
    outcome = support.claim(session=session, conversation_id=conversation_id,
                            agent_id=agent.id, actor=agent.actor)
    return _back(request, conversation_id, outcome)


@router.post("/conversations/{conversation_id}/reply")
def reply(request: Request, conversation_id: str, agent: CurrentAgent, session: SessionDep,
          board: TypingDep, text: FormText = "", csrf: FormText = "") -> Response:
    """Send a reply to the customer (claims the conversation if nobody has)."""
    check_csrf(agent, csrf)
    text = text.strip()
    if problem := _text_problem(text):
        return _back(request, conversation_id, problem)
    board.stop(conversation_id, Typist.AGENT)  # sent: no longer typing
    outcome = support.reply(session=session, conversation_id=conversation_id,
                            agent_id=agent.id, actor=agent.actor, text=text)
    return _back(request, conversation_id, outcome)


# The console's file upload: its body may be as large as a file (relay.app gives it the limit).
FILE_PATH = re.compile(r"^/console/conversations/[^/]+/attachments$")
FILE_NOTICES = {413: "file-too-large", 415: "file-type", 422: "file-empty"}  # by refused_status
NOTICES.update({"file-too-large": "That file is too large to send.",
                "file-type": attachments.UnsupportedFile().args[0],
                "file-empty": attachments.EmptyFile().args[0]})


@router.post("/conversations/{conversation_id}/attachments")
def send_file(request: Request, conversation_id: str, agent: CurrentAgent, session: SessionDep,
              settings: SettingsDep, board: TypingDep, file: UploadFile | None = None,
              text: FormText = "", csrf: FormText = "") -> Response:
    """Send the customer an image or a PDF, with an optional caption (claims the conversation
    if nobody has, like a reply); the customer's channel delivers it."""
    check_csrf(agent, csrf)
    if file is None or (not file.filename and not file.size):
        return _back(request, conversation_id, "file-missing")
    text = text.strip()
    if len(text) > MAX_REPLY_CHARS:
        return _back(request, conversation_id, "too-long")
    data = file.file.read(settings.attachment_max_bytes + 1)
    try:
        outcome = support.send_file(
            session=session, conversation_id=conversation_id, agent_id=agent.id,
            actor=agent.actor, data=data, filename=file.filename,
            max_bytes=settings.attachment_max_bytes, caption=text)
    except attachments.FileRefused as refused:
        status = refused_status(refused)
        notice = FILE_NOTICES[status]
        if _wants_json(request):
            return JSONResponse({"outcome": notice, "detail": str(refused)},
                                status_code=status)
        return _back(request, conversation_id, notice)
    board.stop(conversation_id, Typist.AGENT)
    return _back(request, conversation_id, outcome)


@router.post("/conversations/{conversation_id}/note")
def note(request: Request, conversation_id: str, agent: CurrentAgent, session: SessionDep,
         text: FormText = "", csrf: FormText = "") -> Response:
    """Add an internal note; never sent to the customer."""
    check_csrf(agent, csrf)
    text = text.strip()
    if problem := _text_problem(text):
        return _back(request, conversation_id, problem)
    support.note(session=session, conversation_id=conversation_id, agent_id=agent.id, text=text)
    return _back(request, conversation_id, support.Outcome.NOTED)


@router.post("/conversations/{conversation_id}/transfer")
def transfer(request: Request, conversation_id: str, agent: CurrentAgent, session: SessionDep,
             to_agent: Annotated[int, Form(ge=1, le=2**31 - 1)], csrf: FormText = "") -> Response:
    """Give the conversation to another agent (any active console user)."""
    check_csrf(agent, csrf)
    target = users.get(session=session, user_id=to_agent)
    if target is None or not target.active or target.role not in auth.CONSOLE_ROLES:
        raise HTTPException(422, f"There is no active agent with id {to_agent}.")
    outcome = support.transfer(session=session, conversation_id=conversation_id,
                               to_agent_id=target.id, to_agent_name=target.name,
                               by_agent_name=agent.name, actor=agent.actor)
    return _back(request, conversation_id, outcome)


@router.post("/conversations/{conversation_id}/messages/{interaction_id}/retry")
def retry_delivery(request: Request, conversation_id: str, interaction_id: int,
                   agent: CurrentAgent, session: SessionDep, csrf: FormText = "") -> Response:
    """Send a message whose delivery failed again (e.g. the customer unblocked the bot)."""
    check_csrf(agent, csrf)
    return _back(request, conversation_id, support.retry_delivery(
        session=session, conversation_id=conversation_id, interaction_id=interaction_id,
        actor=agent.actor))


@router.post("/conversations/{conversation_id}/resolve")
async def resolve(request: Request, conversation_id: str, agent: CurrentAgent,
                  sessions: SessionFactoryDep, rasa: RasaDep, csrf: FormText = "") -> Response:
    """Resolve the handoff's case and hand the conversation back to the bot (Rasa resume)."""
    check_csrf(agent, csrf)
    outcome = await support.resolve(sessions=sessions, bot=rasa, conversation_id=conversation_id,
                                    agent_id=agent.id, agent_name=agent.name, actor=agent.actor,
                                    override=agent.principal.role == Role.ADMIN)
    if outcome is None:
        raise HTTPException(404, f"There is no conversation {conversation_id}.")
    return _back(request, conversation_id, outcome)


OptionalField = Annotated[str | None, Form(max_length=2000)]


@router.post("/customers/{customer_id}")
def edit_customer(
    request: Request, customer_id: PathId, agent: CurrentAgent, session: SessionDep,
    csrf: FormText = "", back: FormText = "/console/",
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    company: Annotated[str, Form(max_length=200)] = "",
    address: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Replace the customer's contact details with the record form's (an empty field clears
    it), validated and audited like the API's PATCH."""
    check_csrf(agent, csrf)
    changes = {"name": name, "email": email, "phone": phone, "company": company,
               "address": address}
    customer = customers.update(session=session, customer_id=customer_id, actor=agent.actor,
                                **{key: value.strip() or None for key, value in changes.items()})
    return _done(request, back, "saved", {"customer": views.customer_json(customer)})


@router.post("/customers/{customer_id}/merge")
def merge_customer(
    request: Request, customer_id: PathId, agent: CurrentAgent, session: SessionDep,
    other: Annotated[str, Form(max_length=320)], csrf: FormText = "",
    back: FormText = "/console/",
) -> Response:
    """Fold another customer (by id or email) into this one: the same person on two channels."""
    check_csrf(agent, csrf)
    other = other.strip()
    found = (customers.get(session=session, customer_id=int(other))
             if other.isdigit() and len(other) < 10 else
             customers.get_by_email(session=session, email=other))
    if found is None:
        raise HTTPException(422, f"There is no customer {other!r} (give an id or an email).")
    customer = customer_merge.merge(session=session, keep_id=customer_id, merge_id=found.id,
                                    actor=agent.actor)
    return _done(request, back, "merged", {"customer": views.customer_json(customer)})


@router.post("/leads/{lead_id}/stage")
def move_lead(
    request: Request, lead_id: PathId, agent: CurrentAgent, session: SessionDep,
    stage: Annotated[str, Form(max_length=20)], csrf: FormText = "",
    back: FormText = "/console/", lost_reason: OptionalField = None,
) -> Response:
    """Move a lead to another stage of the pipeline (recorded in its history, audited)."""
    check_csrf(agent, csrf)
    lead = leads.move_stage(session=session, lead_id=lead_id, to_stage=stage,
                            changed_by=agent.actor, lost_reason=lost_reason)
    return _done(request, back, "stage-moved", {"lead": {"id": lead.id, "stage": lead.stage}})


@router.post("/cases/{case_id}/reopen")
def reopen_case(
    request: Request, case_id: PathId, agent: CurrentAgent, session: SessionDep,
    csrf: FormText = "", back: FormText = "/console/",
) -> Response:
    """Re-open a resolved or closed case (audited)."""
    check_csrf(agent, csrf)
    case = cases.get_or_raise(session=session, case_id=case_id)
    if case.status in OPEN_CASE_STATUSES:
        raise HTTPException(409, f"Case {case_id} is already open.")
    case = cases.set_status(session=session, case_id=case_id, status=CaseStatus.OPEN,
                            actor=agent.actor)
    return _done(request, back, "reopened", {"case": {"id": case.id, "status": case.status}})


TagText = Annotated[str, Form(max_length=200)]


@router.post("/conversations/{conversation_id}/tags")
def add_tag(request: Request, conversation_id: str, agent: CurrentAgent, session: SessionDep,
            tag: TagText, csrf: FormText = "") -> Response:
    """Put a tag on the conversation (audited)."""
    check_csrf(agent, csrf)
    found = tags.add(session=session, conversation_id=conversation_id, tag=tag,
                     actor=agent.actor)
    return _done(request, f"/console/conversations/{conversation_id}", "tagged", {"tags": found})


@router.post("/conversations/{conversation_id}/tags/remove")
def remove_tag(request: Request, conversation_id: str, agent: CurrentAgent, session: SessionDep,
               tag: TagText, csrf: FormText = "") -> Response:
    """Take a tag off the conversation (audited)."""
    check_csrf(agent, csrf)
    found = tags.remove(session=session, conversation_id=conversation_id, tag=tag,
                        actor=agent.actor)
    return _done(request, f"/console/conversations/{conversation_id}", "tagged", {"tags": found})


@router.get("/api/conversations/{conversation_id}/canned")
def canned_for(conversation_id: str, agent: CurrentAgent, session: SessionDep
               ) -> dict[str, Any]:
    """The canned replies with their placeholders filled in for this conversation."""
    conversation = conversations.get_or_raise(session=session, conversation_id=conversation_id)
    customer = (customers.get(session=session, customer_id=conversation.customer_id)
                if conversation.customer_id else None)
    return {"replies": [
        {"id": r.id, "title": r.title,
         "text": canned.render(r.body, customer=customer, agent_name=agent.name)}
        for r in canned.list_all(session=session)]}


CannedTitle = Annotated[str, Form(max_length=canned.MAX_TITLE_CHARS)]
CannedBody = Annotated[str, Form(max_length=canned.MAX_BODY_CHARS)]


@router.get("/canned")
def canned_page(request: Request, admin: CurrentAdmin, session: SessionDep,
                notice: str | None = None) -> Response:
    """The admins' page of canned replies."""
    return _page(request, "canned.html", {
        "agent": admin, "csrf": admin.session.csrf, "notice": notice,
        "replies": canned.list_all(session=session)})


@router.post("/canned")
def canned_create(request: Request, admin: CurrentAdmin, session: SessionDep,
                  title: CannedTitle, body: CannedBody, csrf: FormText = "") -> Response:
    """Add a canned reply."""
    check_csrf(admin, csrf)
    reply = canned.create(session=session, title=title, body=body, actor=admin.actor)
    return _done(request, "/console/canned", "canned-saved", {"id": reply.id})


@router.post("/canned/{reply_id}")
def canned_update(request: Request, reply_id: PathId, admin: CurrentAdmin, session: SessionDep,
                  title: CannedTitle, body: CannedBody, csrf: FormText = "") -> Response:
    """Change a canned reply."""
    check_csrf(admin, csrf)
    canned.update(session=session, reply_id=reply_id, title=title, body=body, actor=admin.actor)
    return _done(request, "/console/canned", "canned-saved", {"id": reply_id})


@router.post("/canned/{reply_id}/delete")
def canned_delete(request: Request, reply_id: PathId, admin: CurrentAdmin, session: SessionDep,
                  csrf: FormText = "") -> Response:
    """Delete a canned reply."""
    check_csrf(admin, csrf)
    canned.delete(session=session, reply_id=reply_id, actor=admin.actor)
    return _done(request, "/console/canned", "canned-deleted", {"id": reply_id})


def _admin(agent: Agent) -> None:
    if agent.principal.role != Role.ADMIN:
        raise HTTPException(403, "Only an admin may export or erase a customer's data.")


@router.get("/customers/{customer_id}/personal-data")
def export_personal_data(customer_id: int, agent: CurrentAgent, session: SessionDep) -> Response:
    """Download everything Relay keeps about the customer (admins; audited)."""
    _admin(agent)
    document = privacy.export(session=session, customer_id=customer_id)
    audit.record(session=session, actor=agent.actor, action="export", entity=privacy.ENTITY,
                 entity_id=customer_id)
    return Response(json.dumps(document, indent=2, default=str), media_type="application/json",
                    headers={"Content-Disposition":
                             f'attachment; filename="customer-{customer_id}.json"'})


@router.post("/customers/{customer_id}/erase")
def erase_customer(customer_id: int, agent: CurrentAgent, session: SessionDep,
                   settings: SettingsDep, csrf: FormText = "") -> Response:
    """Erase the customer and all their data (admins; audited)."""
    check_csrf(agent, csrf)
    _admin(agent)
    privacy.erase(session=session, customer_id=customer_id, actor=agent.actor,
                  log_dirs=[settings.data_dir / "logs"])
    return RedirectResponse("/console/?notice=erased", status_code=303)
