"""Canned replies (admins manage them, placeholders filled per conversation) and tags, on real
SQLite through the console's routes — with wrong roles and hostile input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_store import agent_inbox, audit, canned, users
from crm_store.agent_inbox import InboxView
from relay.app import create_app
from relay.settings import Settings
from tests.console.test_console import csrf_of, handed_off, login

JSON = {"Accept": "application/json"}
ADMIN_EMAIL, ADMIN_PASSWORD = "root@relay.test", "admin-long-password"


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """The real app with its lifespan running, and an admin account."""
    with sessions.begin() as session:
        users.create_user(session=session, email=ADMIN_EMAIL, name="Ada Admin",
                          password=ADMIN_PASSWORD, role="admin")
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def login_admin(client: TestClient) -> str:
    form = client.get("/console/login")
    response = client.post("/console/login", data={
        "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf": csrf_of(form.text),
        "next": "/console/"})
    assert response.status_code == 303
    return csrf_of(client.get("/console/").text)


def test_placeholders_are_filled_and_unknown_ones_kept() -> None:
    from crm_store.models import Customer

    body = ("Hi {{customer.first_name}} ({{ customer.email }}), I'm {{agent.first_name}}. "
            "{{customer.shoe_size}} {{agent.name}}")
    dana = Customer(name="Dana Ruiz", email="dana@example.com")
    assert canned.render(body, customer=dana, agent_name="Alex Agent") == (
        "Hi Dana (dana@example.com), I'm Alex. {{customer.shoe_size}} Alex Agent")
    assert canned.render("Hi {{customer.name}}!", customer=None, agent_name="") == "Hi there!"


def test_only_admins_manage_canned_replies(client: TestClient,
                                           sessions: sessionmaker[Session]) -> None:
    csrf = login(client)  # an agent
    assert client.get("/console/canned").status_code == 403
    refused = client.post("/console/canned", data={"csrf": csrf, "title": "t", "body": "b"},
                          headers=JSON)
    assert refused.status_code == 403 and "admins" in refused.json()["detail"]
    client.post("/console/logout", data={"csrf": csrf})

    csrf = login_admin(client)
    assert client.get("/console/canned").status_code == 200
    made = client.post("/console/canned", data={
        "csrf": csrf, "title": "Greeting", "body": "Hi {{customer.first_name}}, I'm "
        "{{agent.first_name}}."}, headers=JSON)
    assert made.status_code == 200
    reply_id = made.json()["id"]
    for bad in ({"title": "", "body": "x"}, {"title": "x", "body": "   "},
                {"title": "x" * 101, "body": "x"}, {"title": "x", "body": "x" * 4001},
                {"title": "Greeting", "body": "dup"}):
        response = client.post("/console/canned", data={"csrf": csrf, **bad}, headers=JSON)
        assert response.status_code == 422, bad
    assert client.post("/console/canned", data={"title": "t", "body": "b"},
                       headers=JSON).status_code == 403  # no CSRF token
    assert client.post("/console/canned/999999", data={"csrf": csrf, "title": "t", "body": "b"},
                       headers=JSON).status_code == 404
    assert client.post("/console/canned/abc/delete", data={"csrf": csrf},
                       headers=JSON).status_code == 422

    cid = handed_off(sessions, with_customer=True)
    filled = client.get(f"/console/api/conversations/{cid}/canned").json()["replies"]
    assert filled == [{"id": reply_id, "title": "Greeting", "text": "Hi Dana, I'm Ada."}]
    assert client.get("/console/api/conversations/web-nope/canned").status_code == 404

    assert client.post(f"/console/canned/{reply_id}/delete", data={"csrf": csrf},
                       headers=JSON).status_code == 200
    with sessions() as session:
        actions = [e.action for e in audit.list_entries(session=session, entity="canned_reply")]
        assert actions == ["delete", "create"]


def test_tags_are_normalised_audited_and_searchable(client: TestClient,
                                                    sessions: sessionmaker[Session]) -> None:
    cid = handed_off(sessions)
    csrf = login(client)
    url = f"/console/conversations/{cid}/tags"
    added = client.post(url, data={"csrf": csrf, "tag": "  Billing   Issue "}, headers=JSON)
    assert added.status_code == 200 and added.json()["tags"] == ["billing issue"]
    again = client.post(url, data={"csrf": csrf, "tag": "BILLING issue"}, headers=JSON)
    assert again.json()["tags"] == ["billing issue"]
    for bad in ("", "   ", "<script>", "x" * 41, "-dash", "x" * 201):
        assert client.post(url, data={"csrf": csrf, "tag": bad},
                           headers=JSON).status_code == 422, bad
    assert client.post(url, data={"tag": "vip"}, headers=JSON).status_code == 403
    assert client.post("/console/conversations/web-nope/tags", data={"csrf": csrf, "tag": "a"},
                       headers=JSON).status_code == 404
    with sessions() as session:
        me = users.get_by_email(session=session, email="agent@relay.test")
        assert me is not None
        found = agent_inbox.list_conversations(session=session, view=InboxView.ALL, agent_id=me.id,
                                         query="billing iss")
        assert cid in {c.id for c in found}
    queue = client.get("/console/api/queue").json()["queue"]
    assert next(i for i in queue if i["id"] == cid)["tags"] == ["billing issue"]
    removed = client.post(f"{url}/remove", data={"csrf": csrf, "tag": "Billing Issue"},
                          headers=JSON)
    assert removed.status_code == 200 and removed.json()["tags"] == []
    with sessions() as session:
        entries = audit.list_entries(session=session, entity="conversation_tag", entity_id=cid)
        assert [e.action for e in entries] == ["untag", "tag"]
