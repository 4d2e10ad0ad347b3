"""GET /api/v1/insights/<figure>: the Insights figures as JSON or CSV (crm_store.insights).

Managers, admins, viewers and the system token see the team's figures; an agent sees only the
figures that can be scoped to them (their own handoffs, queue and leads), scoped to them, and
gets 403 for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import Response
from pydantic import BaseModel

from crm_store import insights
from crm_store.api.auth import TEAM_INSIGHT_ROLES, Principal
from crm_store.api.deps import CurrentPrincipal, SessionDep
from crm_store.enums import Role
from relay.channels import ChannelName

router = APIRouter(prefix="/insights", tags=["insights"])

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "the figure as JSON, or as CSV with format=csv"},
}


class FigureOut(BaseModel):
    """One figure: its columns, its rows (one object per row) and the scope it covers."""

    name: str
    columns: list[str]
    rows: list[dict[str, Any]]
    scope: dict[str, Any]


class FigureInfo(BaseModel):
    name: str
    path: str
    scoped_to_you: bool


def sees_team(principal: Principal) -> bool:
    """Whether the caller sees everyone's figures (else only their own, if an agent)."""
    return principal.role in TEAM_INSIGHT_ROLES


def require_team(principal: CurrentPrincipal) -> Principal:
    """The caller, if they may see the team's figures; 403 otherwise."""
    if not sees_team(principal):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "Only managers and admins see the team's insights.")
    return principal


TeamPrincipal = Annotated[Principal, Depends(require_team)]


def scope_for(
    principal: CurrentPrincipal,
    first: Annotated[date | None, Query(alias="from", description="first day (UTC), "
                                        "default 29 days before 'to'")] = None,
    last: Annotated[date | None, Query(alias="to", description="last day (UTC), "
                                       "inclusive, default today")] = None,
    channel: ChannelName | None = None,
) -> insights.Scope:
    """The date range and channel of the request; an agent's scope is narrowed to them."""
    agent_id = None
    if not sees_team(principal):
        if principal.role != Role.AGENT or principal.user_id is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"Role '{principal.role}' may not see insights.")
        agent_id = principal.user_id
    return insights.Scope.from_days(first, last, channel=channel, agent_id=agent_id)


ScopeDep = Annotated[insights.Scope, Depends(scope_for)]


def csv_response(table: insights.Table, filename: str) -> Response:
    """The table as a CSV download."""
    return Response(table.to_csv(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def table_response(table: insights.Table, scope: insights.Scope, format: str) -> Any:
    """The table as a FigureOut, or as a CSV download."""
    if format == "csv":
        period = scope.describe()
        return csv_response(table, f"{table.name}_{period['from']}_{period['to']}.csv")
    return FigureOut(name=table.name, columns=table.columns, rows=table.records(),
                     scope=scope.describe())


def _endpoint(name: str, agent_scoped: bool) -> Callable[..., Any]:
    def figure(
        session: SessionDep, scope: ScopeDep, format: Literal["json", "csv"] = "json"
    ) -> Any:
        if scope.agent_id is not None and not agent_scoped:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"'{name}' is a team figure: only managers and admins see it.")
        return table_response(insights.compute(session=session, name=name, scope=scope),
                              scope, format)

    figure.__doc__ = (insights.FIGURES[name][0].__doc__ or name).splitlines()[0]
    figure.__name__ = "insight_" + name.replace("-", "_")
    return figure


@router.get("", response_model=list[FigureInfo])
def list_figures(principal: CurrentPrincipal) -> list[FigureInfo]:
    """The figures the caller may see (an agent's are scoped to them)."""
    team = sees_team(principal)
    return [
        FigureInfo(name=name, path=f"/api/v1/insights/{name}", scoped_to_you=not team)
        for name, (_, agent_scoped) in insights.FIGURES.items()
        if team or (agent_scoped and principal.role == Role.AGENT)
    ]


for _name, (_, _agent_scoped) in insights.FIGURES.items():
    router.add_api_route(f"/{_name}", _endpoint(_name, _agent_scoped), methods=["GET"],
                         response_model=FigureOut, responses=CSV_RESPONSE)
