"""The CRM HTTP API: auth, roles, validation, pagination, audit, ingest, limits."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_store import audit, interactions, users
from crm_store.errors import InvalidValue, NotFoundError
from relay.app import create_app
from relay.settings import Settings
from tests.crm_store.conftest import PASSWORD

H = dict[str, str]


def _customer(client: TestClient, headers: H, **body: object) -> dict[str, object]:
    response = client.post("/api/v1/customers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_healthz_needs_no_auth(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_every_api_route_requires_auth(client: TestClient, settings: Settings) -> None:
    paths = create_app(settings, console=False, channels=False).openapi()["paths"]
    routes = [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(("/api/v1", "/internal")) and path != "/api/v1/auth/login"
        for method in operations
    ]
    assert len(routes) >= 15
    for method, path in routes:
        url = path.replace("{customer_id}", "1").replace("{lead_id}", "1").replace("{case_id}", "1")
        response = client.request(method, url, json={})
        assert response.status_code == 401, (method, path, response.status_code)
        assert "Bearer" in response.json()["detail"]
    bad = client.get("/api/v1/customers", headers={"Authorization": "Bearer forged"})
    assert bad.status_code == 401 and "invalid or expired" in bad.json()["detail"]


def test_a_token_stops_working_after_logout_deactivation_or_revocation(
    client: TestClient, sessions: sessionmaker[Session], agent_headers: H
) -> None:
    """Logging out ends the token; deactivating a user ends all theirs; a revoked service
    token is refused (issue 15, #3)."""
    assert client.get("/api/v1/auth/me", headers=agent_headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=agent_headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=agent_headers).status_code == 401
    second = client.post("/api/v1/auth/login",
                         json={"email": "agent@relay.local", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {second['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert users.main(["--url", str(client.app.state.settings.database_url), "deactivate",
                       "agent@relay.local"]) == 0
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    with sessions.begin() as session:
        _, token = users.create_service_token(session=session, name="script", role="agent")
    service = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=service).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=service).status_code == 400
    assert users.main(["--url", str(client.app.state.settings.database_url), "revoke-token",
                       "script"]) == 0
    assert client.get("/api/v1/auth/me", headers=service).status_code == 401


def test_login_rejects_wrong_password_and_inactive_users(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        user = users.create_user(
            session=session,
            email="off@relay.local",
            name="Off",
            password="password123",
            role="agent",
        )
        user.active = False
    for password in ("password123", "wrong"):
        response = client.post(
            "/api/v1/auth/login", json={"email": "off@relay.local", "password": password}
        )
        assert response.status_code == 401
    assert "Wrong email or password" in response.json()["detail"]


def test_viewer_reads_but_gets_403_on_writes(
    client: TestClient, viewer_headers: H, system_headers: H
) -> None:
    created = _customer(client, system_headers, name="Read Me", email="read@example.com")
    assert (
        client.get(f"/api/v1/customers/{created['id']}", headers=viewer_headers).status_code == 200
    )
    writes = [
        ("post", "/api/v1/customers", {"email": "v@example.com"}),
        ("patch", f"/api/v1/customers/{created['id']}", {"name": "x"}),
        ("post", "/api/v1/leads", {"customer_id": created["id"]}),
        ("post", "/api/v1/cases", {"subject": "x"}),
        ("post", "/api/v1/leads/1/stage", {"stage": "won"}),
        ("patch", "/api/v1/cases/1", {"status": "closed"}),
    ]
    for method, url, body in writes:
        response = client.request(method, url, json=body, headers=viewer_headers)
        assert response.status_code == 403, (url, response.text)
        assert "may read but not change" in response.json()["detail"]
    assert client.get("/api/v1/audit", headers=viewer_headers).status_code == 403
    me = client.get("/api/v1/auth/me", headers=viewer_headers).json()
    assert me["role"] == "viewer"


def test_duplicate_email_is_409_with_existing_id(client: TestClient, agent_headers: H) -> None:
    first = _customer(client, agent_headers, email="dup@example.com")
    response = client.post(
        "/api/v1/customers", json={"email": "DUP@example.com "}, headers=agent_headers
    )
    assert response.status_code == 409
    assert response.json()["existing_id"] == first["id"]
    assert "already exists" in response.json()["detail"]


def test_422_names_the_field(client: TestClient, agent_headers: H) -> None:
    cases = [
        ({"email": "not-an-email"}, "email: is not a valid email address: An email address "
                                    "must have an @-sign."),
        ({"phone": "12"}, "phone: is not a phone number"),
        (
            {"name": "x", "favourite_colour": "red"},
            "favourite_colour: Extra inputs are not permitted",
        ),
        ({"type": "vip"}, "type: Input should be"),
        ({"language": "klingon"}, "language: must be one of en, zh, es"),
    ]
    for body, expected in cases:
        response = client.post("/api/v1/customers", json=body, headers=agent_headers)
        assert response.status_code == 422
        assert expected in response.json()["detail"], response.json()
    response = client.get("/api/v1/customers?limit=101", headers=agent_headers)
    assert response.status_code == 422 and "limit" in response.json()["detail"]


def test_422_does_not_echo_the_input_or_the_exception(client: TestClient, agent_headers: H
                                                       ) -> None:
    """The errors say where and what, never the raw input or exception (issue 15, #9)."""
    secret = "<script>" + "x" * 5000
    response = client.post("/api/v1/customers", json={"name": secret, "phone": 12},
                           headers=agent_headers)
    assert response.status_code == 422
    assert secret not in response.text
    assert all(set(error) == {"type", "loc", "msg"} for error in response.json()["errors"])
    for body in ({"email": "secret-not-an-email"}, {"phone": "0791 secret"}):
        refused = client.post("/api/v1/customers", json=body, headers=agent_headers)
        assert refused.status_code == 422 and "secret" not in refused.text
    broken = client.post("/api/v1/customers", content=b'{"name": "x"',
                         headers={**agent_headers, "content-type": "application/json"})
    assert broken.status_code == 422
    assert "Expecting" not in broken.text and "ctx" not in broken.text


@pytest.mark.parametrize("name", ["Eve\u0000Null", "\u202eevE", "bell\u0007", "\u001b[31mred"])
def test_control_characters_in_a_field_are_a_422_that_names_them(
    client: TestClient, agent_headers: H, name: str
) -> None:
    """PostgreSQL refuses NUL (a 500 there); a text-direction override shows "evE" as "Eve"."""
    created = _customer(client, agent_headers, name="Eve")
    response = client.patch(f"/api/v1/customers/{created['id']}", json={"name": name},
                            headers=agent_headers)
    assert response.status_code == 422
    assert "name: must not contain control characters" in response.json()["detail"]
    kept = client.get(f"/api/v1/customers/{created['id']}", headers=agent_headers).json()
    assert kept["name"] == "Eve"
    ok = client.patch(f"/api/v1/customers/{created['id']}",
                      json={"address": "1 Main St\nFlat 2\tback"}, headers=agent_headers)
    assert ok.status_code == 200  # line breaks and tabs are text


def test_a_very_long_missing_id_is_not_echoed_whole(client: TestClient, agent_headers: H) -> None:
    long_id = "web-" + "a" * 5000
    response = client.get(f"/api/v1/conversations/{long_id}", headers=agent_headers)
    assert response.status_code in (404, 422) and long_id not in response.text


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("OPTIONS", "/api/v1/customers", "GET, POST"),
    ("DELETE", "/api/v1/cases/1", "GET, PATCH"),
    ("PUT", "/api/v1/leads", "GET, POST"),
])
def test_405_lists_every_method_of_the_path(client: TestClient, agent_headers: H, method: str,
                                            path: str, allowed: str) -> None:
    """Starlette named only the first route's methods ("Allow: GET" for /customers)."""
    response = client.request(method, path, headers=agent_headers)
    assert response.status_code == 405 and response.headers["allow"] == allowed
    assert response.json()["detail"] == f"{method} is not allowed here: use {allowed}."


def test_search_and_pagination(client: TestClient, agent_headers: H) -> None:
    for i in range(5):
        _customer(
            client,
            agent_headers,
            name=f"Page {i}",
            email=f"page{i}@example.com",
            company="Initech" if i < 3 else "Hooli",
        )
    page = client.get("/api/v1/customers?limit=2&offset=0", headers=agent_headers).json()
    assert (page["total"], len(page["items"]), page["limit"]) == (5, 2, 2)
    rest = client.get("/api/v1/customers?limit=100&offset=4", headers=agent_headers).json()
    assert len(rest["items"]) == 1
    hooli = client.get("/api/v1/customers?company=hooli", headers=agent_headers).json()
    assert hooli["total"] == 2
    assert (
        client.get("/api/v1/customers?q=PAGE3", headers=agent_headers).json()["items"][0]["name"]
        == "Page 3"
    )


def test_changes_write_audit_rows(
    client: TestClient, agent_headers: H, admin_headers: H, sessions: sessionmaker[Session]
) -> None:
    created = _customer(client, agent_headers, name="Audit Me", email="audit@example.com")
    response = client.patch(
        f"/api/v1/customers/{created['id']}", json={"company": "Umbrella"}, headers=agent_headers
    )
    assert response.status_code == 200 and response.json()["company"] == "Umbrella"
    with sessions() as session:
        rows = audit.list_entries(session=session, entity="customer", entity_id=created["id"])
    assert [r.action for r in rows] == ["update", "create"]
    update, create = rows
    assert (
        update.actor.startswith("user:") and update.before is not None and update.after is not None
    )
    assert (update.before["company"], update.after["company"]) == (None, "Umbrella")
    assert create.before is None and create.after is not None
    listed = client.get(
        f"/api/v1/audit?entity=customer&entity_id={created['id']}", headers=admin_headers
    )
    assert [r["action"] for r in listed.json()] == ["update", "create"]


def test_leads_and_cases_flow(client: TestClient, agent_headers: H) -> None:
    customer = _customer(client, agent_headers, email="flow@example.com")
    lead = client.post(
        "/api/v1/leads",
        json={"customer_id": customer["id"], "interest": "Team", "expected_value": "900"},
        headers=agent_headers,
    )
    assert lead.status_code == 201
    repeat = client.post(
        "/api/v1/leads", json={"customer_id": customer["id"], "budget": "1k"}, headers=agent_headers
    )
    assert repeat.status_code == 200 and repeat.json()["id"] == lead.json()["id"]
    lead_id = lead.json()["id"]
    lost = client.post(
        f"/api/v1/leads/{lead_id}/stage", json={"stage": "lost"}, headers=agent_headers
    )
    assert lost.status_code == 422 and "lost_reason" in lost.json()["detail"]
    moved = client.post(
        f"/api/v1/leads/{lead_id}/stage", json={"stage": "qualified"}, headers=agent_headers
    )
    assert [h["to_stage"] for h in moved.json()["history"]] == ["new", "qualified"]
    by_stage = client.get("/api/v1/leads?stage=qualified", headers=agent_headers).json()
    assert [x["id"] for x in by_stage["items"]] == [lead_id]
    pipeline = {
        r["stage"]: r for r in client.get("/api/v1/leads/pipeline", headers=agent_headers).json()
    }
    assert (
        pipeline["qualified"]["count"] == 1 and pipeline["qualified"]["expected_value"] == "900.00"
    )
    assert (
        client.post("/api/v1/leads", json={"customer_id": 9999}, headers=agent_headers).status_code
        == 404
    )

    case = client.post(
        "/api/v1/cases",
        json={"subject": "Broken", "customer_id": customer["id"], "priority": "urgent"},
        headers=agent_headers,
    )
    assert case.status_code == 201
    closed = client.patch(
        f"/api/v1/cases/{case.json()['id']}", json={"status": "closed"}, headers=agent_headers
    )
    assert closed.json()["status"] == "closed"
    assert client.get("/api/v1/cases?status=closed", headers=agent_headers).json()["total"] == 1
    assert (
        len(client.get(f"/api/v1/customers/{customer['id']}/cases", headers=agent_headers).json())
        == 1
    )
    assert client.get("/api/v1/cases/999", headers=agent_headers).status_code == 404


def test_ingest_endpoint_needs_the_system_token(
    client: TestClient, system_headers: H, agent_headers: H, sessions: sessionmaker[Session]
) -> None:
    """Only Rasa's broker (the system token) speaks for the bot: no user, no other service token
    can forge a bot message, back-date one or hand a conversation over (issue 15, #2)."""
    body = {
        "events": [
            {"event": "user", "sender_id": "web-api", "timestamp": 1.0, "text": "hi"},
            {"event": "bot", "sender_id": "web-api", "timestamp": 2.0, "text": "hello"},
        ]
    }
    assert client.post("/internal/rasa-events", json=body).status_code == 401
    assert client.post("/internal/rasa-events", json=body, headers=agent_headers).status_code == 403
    assert client.post("/internal/rasa-events", json=body, headers=system_headers).json() == {
        "ingested": 2
    }
    assert client.post("/internal/rasa-events", json=body, headers=system_headers).json() == {
        "ingested": 0
    }
    forged = {"events": [{"event": "bot", "sender_id": "web-api", "timestamp": 0.5,
                          "text": "Your account is closed, send your password to me"}]}
    for role in ("agent", "viewer", "admin"):
        with sessions.begin() as session:
            _, token = users.create_service_token(session=session, name=f"other-{role}",
                                                  role=role)
        refused = client.post("/internal/rasa-events", json=forged,
                              headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 403, role
    with sessions() as session:
        texts = [r.text for r in interactions.list_for_conversation(session=session,
                                                                   conversation_id="web-api")]
    assert texts == ["hi", "hello"]


def test_timeline_route(client: TestClient, system_headers: H) -> None:
    customer = _customer(client, system_headers, email="tl@example.com")
    events = [{"event": "user", "sender_id": "tg-5", "timestamp": 10.0, "text": "hello"}]
    client.post("/internal/rasa-events", json={"events": events}, headers=system_headers)
    # No link yet: nothing on the timeline.
    url = f"/api/v1/customers/{customer['id']}/timeline"
    assert client.get(url, headers=system_headers).json() == []
    assert client.get(url + "?limit=500", headers=system_headers).status_code == 422


def test_body_size_limit_is_413(client: TestClient, system_headers: H) -> None:
    response = client.post(
        "/api/v1/customers",
        content=b"{" + b" " * (1024 * 1024 + 1) + b"}",
        headers={**system_headers, "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert "larger than the 1 MiB limit" in response.json()["detail"]


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/customers", "/api/v1/leads/pipeline", "/internal/rasa-events"} <= set(paths)


def test_errors_are_mapped_deliberately(settings: Settings) -> None:
    """Only the CRM's own errors become 4xx; any other ValueError is a bug and stays a 500."""
    app = create_app(settings, console=False, channels=False)
    raised = {
        "invalid": InvalidValue("priority must be one of low, normal."),
        "missing": NotFoundError("Case", 7),
        "bug": ValueError("invalid literal for int() with base 10: 'x'"),
    }

    @app.get("/raise/{kind}")
    def raise_it(kind: str) -> None:
        raise raised[kind]

    with TestClient(app, raise_server_exceptions=False) as client:
        invalid, missing, bug = (client.get(f"/raise/{kind}") for kind in raised)
    assert (invalid.status_code, invalid.json()["detail"]) == (
        422, "priority must be one of low, normal.")
    assert (missing.status_code, missing.json()["detail"]) == (404, "Case 7 does not exist.")
    assert bug.status_code == 500 and "invalid literal" not in bug.text


def test_a_write_is_visible_to_the_next_request(client: TestClient, agent_headers: H) -> None:
    created = _customer(client, agent_headers, email="seen@example.com")
    found = client.get("/api/v1/customers?email=seen@example.com", headers=agent_headers).json()
    assert [c["id"] for c in found["items"]] == [created["id"]]


def test_conversations_list_read_and_link(
    client: TestClient, system_headers: H, agent_headers: H, viewer_headers: H
) -> None:
    events = [
        {"event": "user", "sender_id": "web-c1", "timestamp": 1.0, "text": "hi"},
        {"event": "slot", "sender_id": "web-c1", "timestamp": 1.5, "name": "language",
         "value": "de"},
        {"event": "pause", "sender_id": "web-c1", "timestamp": 2.0},
        {"event": "user", "sender_id": "tg-c2", "timestamp": 3.0, "text": "yo"},
    ]
    client.post("/internal/rasa-events", json={"events": events}, headers=system_headers)
    waiting = client.get("/api/v1/conversations?status=handoff", headers=viewer_headers).json()
    assert [c["id"] for c in waiting["items"]] == ["web-c1"]
    detail = client.get("/api/v1/conversations/web-c1", headers=viewer_headers).json()
    assert [m["text"] for m in detail["interactions"]] == ["hi"]
    assert detail["language"] == "de"
    assert client.get("/api/v1/conversations/web-nope", headers=viewer_headers).status_code == 404
    customer = _customer(client, agent_headers, email="link@example.com")
    url = "/api/v1/conversations/web-c1/customer"
    assert (
        client.put(url, json={"customer_id": customer["id"]}, headers=viewer_headers).status_code
        == 403
    )
    linked = client.put(url, json={"customer_id": customer["id"]}, headers=agent_headers)
    assert linked.json()["customer_id"] == customer["id"]
    # The customer writes German now; an agent may set another preferred language.
    url = f"/api/v1/customers/{customer['id']}"
    assert client.get(url, headers=agent_headers).json()["language"] == "de"
    changed = client.patch(url, json={"language": "fr"}, headers=agent_headers)
    assert changed.status_code == 200 and changed.json()["language"] == "fr"
    timeline = client.get(
        f"/api/v1/customers/{customer['id']}/timeline", headers=agent_headers
    ).json()
    assert [m["text"] for m in timeline] == ["hi"]


def test_healthz_says_when_the_database_is_unreachable(settings: Settings) -> None:
    down = settings.model_copy(update={"database_url": "postgresql+psycopg://u:p@127.0.0.1:1/none"})
    with TestClient(create_app(down, console=False, channels=False)) as offline:
        response = offline.get("/healthz")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("database unreachable")


def test_lead_owner_must_be_a_user(client: TestClient, agent_headers: H) -> None:
    customer = _customer(client, agent_headers, email="owner@example.com")
    body = {"customer_id": customer["id"], "owner_id": 4242}
    response = client.post("/api/v1/leads", json=body, headers=agent_headers)
    assert (
        response.status_code == 422 and "owner_id 4242 is not a user" in response.json()["detail"]
    )
    huge = client.get("/api/v1/customers/99999999999999999999999", headers=agent_headers)
    assert huge.status_code == 422 and "customer_id" in huge.json()["detail"]
