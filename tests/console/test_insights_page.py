"""The console's Insights page and suggestion panel: who gets in, what the page carries."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_store import users
from relay.app import create_app
from relay.settings import Settings
from tests.channels.conftest import AGENT_EMAIL, AGENT_PASSWORD
from tests.console.test_console import csrf_of, handed_off

MANAGER_EMAIL = "boss@relay.test"


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with sessions.begin() as session:
        users.create_user(session=session, email=MANAGER_EMAIL, name="Morgan Boss",
                          password=AGENT_PASSWORD, role="manager")
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def log_in(client: TestClient, email: str) -> None:
    form = client.get("/console/login")
    response = client.post("/console/login", data={
        "email": email, "password": AGENT_PASSWORD, "csrf": csrf_of(form.text),
        "next": "/console/insights"})
    assert response.status_code == 303 and response.headers["location"] == "/console/insights"


def token_of(html: str) -> str:
    match = re.search(r'data-token="([^"]+)"', html)
    assert match, "the page carries no API token"
    return match.group(1)


def test_the_page_needs_a_login(client: TestClient) -> None:
    response = client.get("/console/insights")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=/console/insights"
    assert client.get("/console/api/conversations/x/suggestions").status_code == 401


def test_a_manager_gets_the_team_page_and_a_token_for_the_api(client: TestClient) -> None:
    log_in(client, MANAGER_EMAIL)
    page = client.get("/console/insights")
    assert page.status_code == 200
    assert 'data-team="yes"' in page.text and 'id="gaps"' in page.text
    assert 'src="/console/insights/static/chart.umd.min.js"' in page.text
    headers = {"Authorization": f"Bearer {token_of(page.text)}"}
    assert client.get("/api/v1/insights/containment", headers=headers).status_code == 200
    me = client.get("/api/v1/auth/me", headers=headers).json()
    assert (me["name"], me["role"]) == (MANAGER_EMAIL, "manager")


def test_an_agent_gets_their_own_figures_only(client: TestClient) -> None:
    log_in(client, AGENT_EMAIL)
    page = client.get("/console/insights")
    assert 'data-team="no"' in page.text and 'id="gaps"' not in page.text
    assert "your own figures" in page.text
    headers = {"Authorization": f"Bearer {token_of(page.text)}"}
    assert client.get("/api/v1/insights/agents", headers=headers).status_code == 200
    assert client.get("/api/v1/insights/containment", headers=headers).status_code == 403
    assert client.get("/api/v1/insights/gaps", headers=headers).status_code == 403


def test_static_files_and_the_vendored_chart_library(client: TestClient) -> None:
    for name, kind in (("insights.js", "javascript"), ("chart.umd.min.js", "javascript"),
                       ("insights.css", "css"), ("suggestions.js", "javascript")):
        response = client.get(f"/console/insights/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
    assert "Chart.js v4" in client.get("/console/insights/static/chart.umd.min.js").text[:200]
    for name in ("../routes.py", "vendor/chart.js-LICENSE.md", "nope.js"):
        assert client.get(f"/console/insights/static/{name}").status_code == 404


def test_suggestion_panel_data_for_unknown_conversations_is_404(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    log_in(client, AGENT_EMAIL)
    assert client.get("/console/api/conversations/web-nobody/suggestions").status_code == 404
    cid = handed_off(sessions)
    page = client.get(f"/console/conversations/{cid}")
    assert 'id="suggestions"' in page.text
    assert "/console/insights/static/suggestions.js" in page.text
    # These settings name an encoder that cannot be loaded: a clear 503, not a server error.
    unavailable = client.get(f"/console/api/conversations/{cid}/suggestions")
    assert unavailable.status_code == 503
    assert "make build-index" in unavailable.json()["detail"]


def test_the_pages_token_ends_with_the_console_login(client: TestClient) -> None:
    """Logging out of the console revokes the token the Insights page carried (issue 15, #3):
    a copy of it taken from the page reads nothing afterwards."""
    log_in(client, MANAGER_EMAIL)
    page = client.get("/console/insights")
    headers = {"Authorization": f"Bearer {token_of(page.text)}"}
    assert client.get("/api/v1/insights/containment", headers=headers).status_code == 200
    client.post("/console/logout", data={"csrf": csrf_of(page.text)})
    assert client.get("/api/v1/insights/containment", headers=headers).status_code == 401
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_a_deactivated_manager_loses_the_page_and_its_token(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    log_in(client, MANAGER_EMAIL)
    headers = {"Authorization": f"Bearer {token_of(client.get('/console/insights').text)}"}
    with sessions.begin() as session:
        boss = users.get_by_email(session=session, email=MANAGER_EMAIL)
        assert boss is not None
        users.set_active(session=session, user_id=boss.id, active=False, actor="user:1")
    assert client.get("/api/v1/insights/containment", headers=headers).status_code == 401
    assert client.get("/console/insights").status_code == 303


def test_the_page_and_its_api_carry_the_security_headers(client: TestClient) -> None:
    """No framing, no sniffing, scripts from this origin only (issue 15, #6)."""
    log_in(client, MANAGER_EMAIL)
    page = client.get("/console/insights")
    headers = {"Authorization": f"Bearer {token_of(page.text)}"}
    figure = client.get("/api/v1/insights/containment", headers=headers)
    for response in (page, figure, client.get("/console/insights/static/insights.js")):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # the served page has no inline script for CSP to block
