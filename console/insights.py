"""The Insights page (/console/insights) and the conversation page's reply-suggestion panel.

The page is a shell: its script (static/insights.js) draws every chart and table in the browser
from the versioned API (/api/v1/insights/...), the same endpoints other tools and the report
use. The page carries a bearer token for the logged-in user (the same token /api/v1/auth/login
gives them, so it grants nothing the user does not already have); managers and admins see the
team, agents their own figures, as the API decides. Like console/routes.py, the routes are
plain `def`s working on the request's session: none of them waits on Rasa or a stream.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response

from console.routes import CurrentAgent, templates
from crm_store import conversations, suggestions, users
from crm_store.api import auth
from crm_store.api.deps import SessionDep, SettingsDep
from crm_store.api.knowledge import KnowledgeDep
from crm_store.segments import SEGMENTS
from relay.channels import ChannelName

HERE = Path(__file__).resolve().parent
STATIC = {
    "insights.js": ("insights.js", "application/javascript"),
    "insights.css": ("insights.css", "text/css"),
    "suggestions.js": ("suggestions.js", "application/javascript"),
    "chart.umd.min.js": ("vendor/chart.umd.min.js", "application/javascript"),
}

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)


@router.get("/insights/static/{name}")
def insights_static(name: str) -> FileResponse:
    """The Insights page's script and stylesheet, and the vendored Chart.js."""
    if name not in STATIC:
        raise HTTPException(404, f"There is no Insights file {name}.")
    path, media_type = STATIC[name]
    return FileResponse(HERE / "static" / path, media_type=media_type,
                        headers={"Cache-Control": "no-cache"})


@router.get("/insights")
def insights_page(request: Request, agent: CurrentAgent, session: SessionDep,
                  settings: SettingsDep) -> Response:
    """Charts and tables of the conversations, the bot, the agents, sales and loyalty."""
    user = users.get(session=session, user_id=agent.id)
    assert user is not None  # current_agent checked it
    return templates.TemplateResponse(request, "insights.html", {
        "agent": agent, "csrf": agent.session.csrf, "notice": None,
        "api_token": auth.issue_user_token(settings, user),
        "team": agent.principal.role in auth.TEAM_INSIGHT_ROLES, "segments": SEGMENTS,
        "channels": list(ChannelName),
    })


@router.get("/api/conversations/{conversation_id}/suggestions")
def conversation_suggestions(conversation_id: str, agent: CurrentAgent, session: SessionDep,
                             knowledge: KnowledgeDep) -> dict[str, Any]:
    """FAQ answers for the customer's last messages, for the conversation page's panel."""
    if conversations.get(session=session, conversation_id=conversation_id) is None:
        raise HTTPException(404, f"There is no conversation {conversation_id}.")
    messages, found = suggestions.suggest(session=session, engine=knowledge.engine(),
                                          conversation_id=conversation_id)
    return {"messages": messages, "suggestions": [asdict(s) for s in found]}
