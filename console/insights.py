"""The Insights page (/console/insights) and the console's reply-suggestion panel data.

The page is a shell: its script (static/insights.js) draws every chart and table in the browser
from the versioned API (/api/v1/insights/...), the same endpoints other tools and the report
use. The page carries a bearer token for the logged-in user (the same token /api/v1/auth/login
gives them, so it grants nothing the user does not already have); managers and admins see the
team, agents their own figures, as the API decides. Kept apart from console/routes.py so the
console redesign can link to it as it is.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response

from console.routes import CurrentAgent, Services, templates
from crm_store import conversations, suggestions, users
from crm_store.api.knowledge import knowledge_service
from crm_store.api.security import issue_user_token
from crm_store.errors import NotFoundError
from crm_store.segments import SEGMENTS

HERE = Path(__file__).resolve().parent
TEAM_ROLES = ("manager", "admin")
STATIC = {
    "insights.js": ("insights.js", "application/javascript"),
    "insights.css": ("insights.css", "text/css"),
    "suggestions.js": ("suggestions.js", "application/javascript"),
    "chart.umd.min.js": ("vendor/chart.umd.min.js", "application/javascript"),
}

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)


@router.get("/insights/static/{name}")
async def insights_static(name: str) -> FileResponse:
    """The Insights page's script and stylesheet, and the vendored Chart.js."""
    if name not in STATIC:
        raise HTTPException(404, f"There is no Insights file {name}.")
    path, media_type = STATIC[name]
    return FileResponse(HERE / "static" / path, media_type=media_type,
                        headers={"Cache-Control": "no-cache"})


@router.get("/insights")
async def insights_page(request: Request, agent: CurrentAgent, services: Services) -> Response:
    """Charts and tables of the conversations, the bot, the agents, sales and loyalty."""

    def token() -> str:
        with services.sessions() as session:
            user = users.get(session=session, user_id=agent.id)
            assert user is not None  # current_agent checked it
            return issue_user_token(services.settings, user)

    return templates.TemplateResponse(request, "insights.html", {
        "agent": agent, "csrf": agent.session.csrf, "notice": None,
        "api_token": await asyncio.to_thread(token),
        "team": agent.role in TEAM_ROLES, "segments": SEGMENTS,
    })


@router.get("/api/conversations/{conversation_id}/suggestions")
async def conversation_suggestions(conversation_id: str, request: Request, agent: CurrentAgent,
                                   services: Services) -> dict[str, Any]:
    """FAQ answers for the customer's last messages, for the conversation page's panel."""
    knowledge = knowledge_service(request)

    def load() -> dict[str, Any]:
        with services.sessions() as session:
            conversations.get_or_raise(session=session, conversation_id=conversation_id)
        engine = knowledge.engine()
        with services.sessions() as session:
            messages, found = suggestions.suggest(session=session, engine=engine,
                                                  conversation_id=conversation_id)
        return {"messages": messages, "suggestions": [asdict(s) for s in found]}

    try:
        return await asyncio.to_thread(load)
    except NotFoundError:
        raise HTTPException(404, f"There is no conversation {conversation_id}.") from None
