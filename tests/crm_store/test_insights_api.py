"""/api/v1/insights: who sees what, JSON and CSV, bad ranges (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_store import insights
from tests.crm_store import insight_world as w
from tests.crm_store.conftest import _login

RANGE = {"from": w.FIRST_DAY.isoformat(), "to": w.LAST_DAY.isoformat()}


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> w.World:
    with sessions.begin() as session:
        return w.build(session)


def login_as(client: TestClient, email: str, password: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_a_manager_sees_every_figure_as_json_and_csv(
    client: TestClient, sessions: sessionmaker[Session], world: w.World
) -> None:
    manager = _login(client, sessions, "manager")
    listed = client.get("/api/v1/insights", headers=manager).json()
    assert {f["name"] for f in listed} == set(insights.FIGURES)
    for name in insights.FIGURES:
        body = client.get(f"/api/v1/insights/{name}", params=RANGE, headers=manager)
        assert body.status_code == 200, (name, body.text)
        data = body.json()
        assert data["scope"]["from"] == RANGE["from"] and data["columns"]
        exported = client.get(f"/api/v1/insights/{name}", headers=manager,
                              params={**RANGE, "format": "csv"})
        assert exported.headers["content-type"].startswith("text/csv")
        assert name in exported.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(exported.text)))
        assert rows[0] == data["columns"] and len(rows) == len(data["rows"]) + 1
    containment = client.get("/api/v1/insights/containment", headers=manager,
                             params={**RANGE, "channel": "web"}).json()
    assert containment["rows"][-1] == {"channel": "all", "conversations": 3, "contained": 1,
                                       "handed_off": 2, "containment_rate": 0.3333,
                                       "handoff_rate": 0.6667}


def test_an_agent_sees_only_their_own_figures(
    client: TestClient, world: w.World
) -> None:
    agent = login_as(client, "a1@relay.local", "password-1")
    listed = {f["name"] for f in client.get("/api/v1/insights", headers=agent).json()}
    assert listed == {n for n, (_, own) in insights.FIGURES.items() if own}
    rows = client.get("/api/v1/insights/agents", params=RANGE, headers=agent).json()["rows"]
    assert [r["agent"] for r in rows] == ["Agent One"]
    funnel = client.get("/api/v1/insights/lead-funnel", params=RANGE, headers=agent).json()
    assert funnel["scope"]["agent_id"] == world.agent1
    assert funnel["rows"][0]["reached"] == 2  # L1 and L3 are Agent One's
    for team_only in ("containment", "faq-outcomes", "conversations-per-day", "cases"):
        response = client.get(f"/api/v1/insights/{team_only}", params=RANGE, headers=agent)
        assert response.status_code == 403, team_only
        assert "team figure" in response.json()["detail"]


def test_viewers_read_and_strangers_are_refused(
    client: TestClient, viewer_headers: dict[str, str], world: w.World
) -> None:
    assert client.get("/api/v1/insights/containment", headers=viewer_headers).status_code == 200
    assert client.get("/api/v1/insights/containment").status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert client.get("/api/v1/insights/containment", headers=bad).status_code == 401


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"from": "2026-03-07", "to": "2026-03-01"}, "starts after"),
        ({"from": "2020-01-01", "to": "2026-03-01"}, "too long"),
        ({"from": "yesterday"}, "from"),
        ({"channel": "fax"}, "channel"),
        ({"format": "xlsx"}, "format"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    client: TestClient, admin_headers: dict[str, str], params: dict[str, str], says: str
) -> None:
    response = client.get("/api/v1/insights/containment", params=params, headers=admin_headers)
    assert response.status_code == 422
    assert says in response.json()["detail"]


