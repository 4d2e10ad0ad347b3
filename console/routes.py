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
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.templating import Jinja2Templates

from bot.rasa import RasaDep
from console import views
from crm_store import audit, changes, privacy, support
from crm_store.api import auth
from crm_store.api.deps import SessionDep, SessionFactoryDep, SettingsDep
from crm_store.enums import Role
from crm_store.login_throttle import retry_message, throttle_for
from crm_store.models import utcnow

HERE = Path(__file__).resolve().parent
MAX_REPLY_CHARS = 4000
CHANGES_LIFETIME_SECONDS = 300.0  # EventSource reconnects by itself
CHANGES_COALESCE_SECONDS = 0.5
NOTICES = {
    "claimed": "You have claimed this conversation.",
    "replied": "Reply sent.",
    "noted": "Internal note added (not visible to the customer).",
    "resolved": "Resolved: the conversation is back with the assistant.",
    "empty": "Write something first.",
    "too-long": f"That message is too long (at most {MAX_REPLY_CHARS} characters).",
    "not-waiting": "This conversation is not handed off, so there is nothing to do here.",
    "taken": "Another agent has already claimed this conversation.",
    "rasa-down": "The assistant could not be reached, so the conversation was not handed back. "
                 "Try again in a moment.",
    "logged-out": "You are logged out.",
    "retrying": "The message will be sent again.",
    "not-failed": "That message has not failed, so there is nothing to try again.",
    "erased": "The customer and everything Relay kept about them were erased.",
}

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
    user = None
    if cookie.user_id is not None:
        user = auth.active_user(session=session, user_id=cookie.user_id, roles=auth.CONSOLE_ROLES)
    if user is None:
        if request.url.path.startswith("/console/api/"):
            raise HTTPException(401, "Log in to the console first.")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, "Log in first.",
                            headers={"Location": f"/console/login?next={quote(target)}"})
    return Agent(auth.principal_of(user), user.name, user.email, cookie)


CurrentAgent = Annotated[Agent, Depends(current_agent)]


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


def _back(conversation_id: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"/console/conversations/{quote(conversation_id)}?notice={notice}",
                            status_code=303)


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
            auth.write_session(redirect, request, settings, auth.ConsoleSession(user_id=user.id))
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
def logout(agent: CurrentAgent, csrf: FormText = "") -> Response:
    """End the session."""
    check_csrf(agent, csrf)
    response = RedirectResponse("/console/login?notice=logged-out", status_code=303)
    auth.clear_session(response)
    return response


@router.get("")
@router.get("/")
def queue_page(request: Request, agent: CurrentAgent, session: SessionDep) -> Response:
    """The queue of handed-off conversations, newest first."""
    return _page(request, "queue.html", {"agent": agent, "queue": views.queue(session=session),
                                         "csrf": agent.session.csrf, "now": utcnow()})


@router.get("/api/queue")
def queue_json(agent: CurrentAgent, session: SessionDep) -> dict[str, Any]:
    """The queue as JSON, for the page's live updates."""
    return {"now": utcnow().isoformat(), "queue": views.queue(session=session)}


@router.get("/api/changes")
async def changes_stream(request: Request, agent: CurrentAgent,
                         conversation: str | None = None) -> StreamingResponse:
    """Server-Sent Events saying when the queue (or one conversation) changed; the page then
    re-reads the JSON above. Woken by the app's change feed, never on a timer."""
    topics = [changes.QUEUE] if conversation is None else [changes.conversation(conversation)]
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
                await asyncio.wait_for(changed.wait(), timeout=1.0)


@router.get("/conversations/{conversation_id}")
def conversation_page(request: Request, conversation_id: str, agent: CurrentAgent,
                      session: SessionDep, notice: str | None = None) -> Response:
    """One conversation: transcript, customer record, earlier interactions, actions."""
    detail = views.conversation_detail(session=session, conversation_id=conversation_id)
    if detail is None:
        raise HTTPException(404, f"There is no conversation {conversation_id}.")
    return _page(request, "conversation.html",
                 {"agent": agent, "csrf": agent.session.csrf, "notice": notice, **detail})


@router.get("/api/conversations/{conversation_id}/messages")
def conversation_messages(conversation_id: str, agent: CurrentAgent, session: SessionDep,
                          after: int = 0) -> dict[str, Any]:
    """Messages and notes newer than `after`, and the conversation's status."""
    result = views.conversation_messages(session=session, conversation_id=conversation_id,
                                         after_id=after)
    if result is None:
        raise HTTPException(404, f"There is no conversation {conversation_id}.")
    return result


@router.post("/conversations/{conversation_id}/claim")
def claim(conversation_id: str, agent: CurrentAgent, session: SessionDep,
          csrf: FormText = "") -> Response:
    """Take the conversation: status "agent", assigned to me."""
    check_csrf(agent, csrf)
    return _back(conversation_id, support.claim(session=session, conversation_id=conversation_id,
                                                agent_id=agent.id, actor=agent.actor))


@router.post("/conversations/{conversation_id}/reply")
def reply(conversation_id: str, agent: CurrentAgent, session: SessionDep,
          text: FormText = "", csrf: FormText = "") -> Response:
    """Send a reply to the customer (claims the conversation if nobody has)."""
    check_csrf(agent, csrf)
    text = text.strip()
    if problem := _text_problem(text):
        return _back(conversation_id, problem)
    return _back(conversation_id, support.reply(session=session, conversation_id=conversation_id,
                                                agent_id=agent.id, actor=agent.actor, text=text))


@router.post("/conversations/{conversation_id}/note")
def note(conversation_id: str, agent: CurrentAgent, session: SessionDep,
         text: FormText = "", csrf: FormText = "") -> Response:
    """Add an internal note; never sent to the customer."""
    check_csrf(agent, csrf)
    text = text.strip()
    if problem := _text_problem(text):
        return _back(conversation_id, problem)
    support.note(session=session, conversation_id=conversation_id, agent_id=agent.id, text=text)
    return _back(conversation_id, support.Outcome.NOTED)


@router.post("/conversations/{conversation_id}/messages/{interaction_id}/retry")
def retry_delivery(conversation_id: str, interaction_id: int, agent: CurrentAgent,
                   session: SessionDep, csrf: FormText = "") -> Response:
    """Send a message whose delivery failed again (e.g. the customer unblocked the bot)."""
    check_csrf(agent, csrf)
    return _back(conversation_id, support.retry_delivery(
        session=session, conversation_id=conversation_id, interaction_id=interaction_id,
        actor=agent.actor))


@router.post("/conversations/{conversation_id}/resolve")
async def resolve(conversation_id: str, agent: CurrentAgent, sessions: SessionFactoryDep,
                  rasa: RasaDep, csrf: FormText = "") -> Response:
    """Resolve the handoff's case and hand the conversation back to the bot (Rasa resume)."""
    check_csrf(agent, csrf)
    outcome = await support.resolve(sessions=sessions, bot=rasa, conversation_id=conversation_id,
                                    agent_id=agent.id, agent_name=agent.name, actor=agent.actor)
    if outcome is None:
        raise HTTPException(404, f"There is no conversation {conversation_id}.")
    return _back(conversation_id, outcome)


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
