"""The agent console under /console: login, queue, conversation view and the agent's actions.

Pages are server-rendered (Jinja, autoescaped); two JSON endpoints feed the live updates of the
queue and of an open conversation, which the page's script renders with textContent.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from bot.channels.rasa import RasaUnavailable
from bot.channels.services import ChannelServices, channel_lifespan, channel_services
from console import auth, views
from crm_store import cases, conversations, interactions, users
from crm_store.login_throttle import retry_message, throttle_for
from crm_store.models import User, utcnow

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
MAX_REPLY_CHARS = 4000
CONSOLE_ROLES = ("agent", "manager", "admin")
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
}

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["notices"] = NOTICES
templates.env.filters["waiting"] = views.waiting
templates.env.filters["clock"] = views.clock

router = APIRouter(prefix="/console", tags=["console"], lifespan=channel_lifespan,
                   include_in_schema=False)
Services = Annotated[ChannelServices, Depends(channel_services)]


class Agent:
    """The logged-in agent and the session carrying the CSRF token."""

    def __init__(self, user: User, session: auth.ConsoleSession) -> None:
        self.id = user.id
        self.name = user.name
        self.email = user.email
        self.role = user.role
        self.session = session


def _load_user(services: ChannelServices, user_id: int) -> User | None:
    with services.sessions() as session:
        user = users.get(session=session, user_id=user_id)
        return user if user is not None and user.active and user.role in CONSOLE_ROLES \
            else None


async def current_agent(request: Request, services: Services) -> Agent:
    """The logged-in agent; otherwise redirect pages to the login form (401 for JSON)."""
    session = auth.read_session(request, services.settings)
    user = None
    if session.user_id is not None:
        user = await asyncio.to_thread(_load_user, services, session.user_id)
    if user is None:
        if request.url.path.startswith("/console/api/"):
            raise HTTPException(401, "Log in to the console first.")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, "Log in first.",
                            headers={"Location": f"/console/login?next={quote(target)}"})
    return Agent(user, session)


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


STATIC_FILES = {"console.css": "text/css", "console.js": "application/javascript"}


@router.get("/static/{name}")
async def static(name: str) -> FileResponse:
    """The console's stylesheet and script."""
    if name not in STATIC_FILES:
        raise HTTPException(404, f"There is no console file {name}.")
    return FileResponse(HERE / "static" / name, media_type=STATIC_FILES[name],
                        headers={"Cache-Control": "no-cache"})


@router.get("/login")
async def login_form(request: Request, services: Services, next: str | None = None,
                     notice: str | None = None) -> Response:
    """The login form."""
    session = auth.read_session(request, services.settings)
    response = _page(request, "login.html",
                     {"csrf": session.csrf, "next": _safe_next(next), "error": None,
                      "notice": notice, "email": ""})
    auth.write_session(response, request, services.settings, session)
    return response


@router.post("/login")
async def login(
    request: Request, services: Services,
    email: Annotated[str, Form(max_length=320)], password: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/console/",
) -> Response:
    """Check the credentials; on success start a new session (new CSRF token)."""
    session = auth.read_session(request, services.settings)
    error = None
    user = None
    status_code = 400
    throttle = throttle_for(request.app.state)
    address = request.client.host if request.client else None
    wait = throttle.retry_after(email=email, address=address)
    if not auth.csrf_ok(session, csrf):
        error = "The login form expired. Please try again."
    elif wait:
        error, status_code = retry_message(wait), 429
    else:
        def check() -> User | None:
            with services.sessions() as db:
                return users.authenticate(session=db, email=email, password=password)

        user = await asyncio.to_thread(check)
        if user is None:
            throttle.failed(email=email, address=address)
            error = "That email and password do not match an agent account."
        elif user.role not in CONSOLE_ROLES:
            error = "This account may not use the agent console."
            user = None
        else:
            throttle.succeeded(email=email)
    if user is None:
        fresh = auth.ConsoleSession()
        response = _page(request, "login.html",
                         {"csrf": fresh.csrf, "next": _safe_next(next), "error": error,
                          "notice": None, "email": email}, status_code=status_code)
        if status_code == 429:
            response.headers["Retry-After"] = str(wait)
        auth.write_session(response, request, services.settings, fresh)
        return response
    redirect = RedirectResponse(_safe_next(next), status_code=303)
    auth.write_session(redirect, request, services.settings,
                       auth.ConsoleSession(user_id=user.id))
    return redirect


@router.post("/logout")
async def logout(agent: CurrentAgent, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session."""
    check_csrf(agent, csrf)
    response = RedirectResponse("/console/login?notice=logged-out", status_code=303)
    auth.clear_session(response)
    return response


@router.get("")
@router.get("/")
async def queue_page(request: Request, agent: CurrentAgent, services: Services) -> Response:
    """The queue of handed-off conversations, newest first."""
    queue = await asyncio.to_thread(_queue, services)
    return _page(request, "queue.html", {"agent": agent, "queue": queue, "csrf": agent.session.csrf,
                                         "now": utcnow()})


def _queue(services: ChannelServices) -> list[dict[str, Any]]:
    with services.sessions() as session:
        return views.queue(session=session)


@router.get("/api/queue")
async def queue_json(agent: CurrentAgent, services: Services) -> dict[str, Any]:
    """The queue as JSON, for the page's live updates."""
    return {"now": utcnow().isoformat(), "queue": await asyncio.to_thread(_queue, services)}


def _conversation(services: ChannelServices, conversation_id: str) -> dict[str, Any] | None:
    with services.sessions() as session:
        return views.conversation_detail(session=session, conversation_id=conversation_id)


@router.get("/conversations/{conversation_id}")
async def conversation_page(request: Request, conversation_id: str, agent: CurrentAgent,
                            services: Services, notice: str | None = None) -> Response:
    """One conversation: transcript, customer record, earlier interactions, actions."""
    detail = await asyncio.to_thread(_conversation, services, conversation_id)
    if detail is None:
        raise HTTPException(404, f"There is no conversation {conversation_id}.")
    return _page(request, "conversation.html",
                 {"agent": agent, "csrf": agent.session.csrf, "notice": notice, **detail})


@router.get("/api/conversations/{conversation_id}/messages")
async def conversation_messages(conversation_id: str, agent: CurrentAgent, services: Services,
                                after: int = 0) -> dict[str, Any]:
    """Messages and notes newer than `after`, and the conversation's status."""
    def load() -> dict[str, Any] | None:
        with services.sessions() as session:
            conversation = conversations.get(session=session, conversation_id=conversation_id)
            if conversation is None:
                return None
            rows = interactions.list_for_conversation(session=session,
                                                      conversation_id=conversation_id,
                                                      after_id=after)
            return {"status": conversation.status,
                    "assigned_agent_id": conversation.assigned_agent_id,
                    "messages": [views.message(row) for row in rows]}

    result = await asyncio.to_thread(load)
    if result is None:
        raise HTTPException(404, f"There is no conversation {conversation_id}.")
    return result


def _back(conversation_id: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"/console/conversations/{quote(conversation_id)}?notice={notice}",
                            status_code=303)


def _claim(session: Session, conversation_id: str, agent: Agent) -> str:
    conversation = conversations.get_or_raise(session=session, conversation_id=conversation_id)
    if conversation.status == "bot":
        return "not-waiting"
    if conversation.status == "agent" and conversation.assigned_agent_id not in (None, agent.id):
        return "taken"
    conversations.set_status(session=session, conversation_id=conversation_id, status="agent",
                             agent_id=agent.id)
    return "claimed"


@router.post("/conversations/{conversation_id}/claim")
async def claim(conversation_id: str, agent: CurrentAgent, services: Services,
                csrf: Annotated[str, Form()] = "") -> Response:
    """Take the conversation: status "agent", assigned to me."""
    check_csrf(agent, csrf)

    def run() -> str:
        with services.sessions.begin() as session:
            return _claim(session, conversation_id, agent)

    return _back(conversation_id, await asyncio.to_thread(run))


def _text_problem(text: str) -> str | None:
    """Why a reply or note cannot be saved ('empty', 'too-long'), or None if it can."""
    if not text:
        return "empty"
    if len(text) > MAX_REPLY_CHARS:
        return "too-long"
    return None


@router.post("/conversations/{conversation_id}/reply")
async def reply(conversation_id: str, agent: CurrentAgent, services: Services,
                text: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
    """Send a reply to the customer (claims the conversation if nobody has)."""
    check_csrf(agent, csrf)
    text = text.strip()
    if problem := _text_problem(text):
        return _back(conversation_id, problem)

    def run() -> str:
        with services.sessions.begin() as session:
            outcome = _claim(session, conversation_id, agent)
            if outcome != "claimed":
                return outcome
            conversation = conversations.get_or_raise(session=session,
                                                      conversation_id=conversation_id)
            # Logged here; the widget stream and the Telegram bridge deliver it from the table.
            interactions.record(session=session, conversation_id=conversation_id,
                                direction="outbound", author="agent", text=text,
                                channel=conversation.channel, agent_id=agent.id)
            return "replied"

    return _back(conversation_id, await asyncio.to_thread(run))


@router.post("/conversations/{conversation_id}/note")
async def note(conversation_id: str, agent: CurrentAgent, services: Services,
               text: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
    """Add an internal note; never sent to the customer."""
    check_csrf(agent, csrf)
    text = text.strip()
    if problem := _text_problem(text):
        return _back(conversation_id, problem)

    def run() -> None:
        with services.sessions.begin() as session:
            conversations.get_or_raise(session=session, conversation_id=conversation_id)
            interactions.add_note(session=session, conversation_id=conversation_id, text=text,
                                  agent_id=agent.id)

    await asyncio.to_thread(run)
    return _back(conversation_id, "noted")


@router.post("/conversations/{conversation_id}/resolve")
async def resolve(conversation_id: str, agent: CurrentAgent, services: Services,
                  csrf: Annotated[str, Form()] = "") -> Response:
    """Resolve the open cases and hand the conversation back to the bot (Rasa resume)."""
    check_csrf(agent, csrf)

    def status() -> str | None:
        with services.sessions() as session:
            conversation = conversations.get(session=session, conversation_id=conversation_id)
            return conversation.status if conversation else None

    current = await asyncio.to_thread(status)
    if current is None:
        raise HTTPException(404, f"There is no conversation {conversation_id}.")
    if current == "bot":
        return _back(conversation_id, "not-waiting")
    try:
        await services.rasa.resume(conversation_id=conversation_id)
    except RasaUnavailable as error:
        logger.warning("resolve %s: %s", conversation_id, error)
        return _back(conversation_id, "rasa-down")

    def run() -> None:
        with services.sessions.begin() as session:
            for case in cases.list_open_for_conversation(session=session,
                                                         conversation_id=conversation_id):
                cases.set_status(session=session, case_id=case.id, status="resolved")
            conversations.set_status(session=session, conversation_id=conversation_id,
                                     status="bot")
            interactions.add_note(session=session, conversation_id=conversation_id,
                                  text=f"Resolved by {agent.name}; handed back to the assistant.",
                                  agent_id=agent.id)

    await asyncio.to_thread(run)
    return _back(conversation_id, "resolved")
