"""The agent console: login, CSRF, queue, transcript escaping, claim, reply, note, resolve."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_store import (
    audit,
    cases,
    conversations,
    customers,
    events,
    interactions,
    support,
    users,
)
from relay.app import create_app
from relay.settings import Settings
from tests.channels.conftest import AGENT_EMAIL, AGENT_PASSWORD
from tests.channels.fake_rasa import FakeRasa

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """The real API app with its lifespan running; https base so cookies behave as deployed."""
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def login(client: TestClient, password: str = AGENT_PASSWORD) -> str:
    """Log in as the test agent; returns the session's CSRF token."""
    form = client.get("/console/login")
    response = client.post("/console/login", data={
        "email": AGENT_EMAIL, "password": password, "csrf": csrf_of(form.text),
        "next": "/console/"})
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/console/").text)


def handed_off(sessions: sessionmaker[Session], *, with_customer: bool = False) -> str:
    """A web conversation waiting for an agent, with an open handoff case."""
    cid = f"web-{uuid.uuid4().hex}"
    with sessions.begin() as session:
        customer_id = None
        if with_customer:
            customer = customers.create(session=session, actor="test", name="Dana Ruiz",
                                        email=f"dana-{cid[-6:]}@example.com", type="customer")
            customer_id = customer.id
            interactions.record(session=session, conversation_id=f"web-{uuid.uuid4().hex}",
                                direction="inbound", author="customer",
                                text="last month's question",
                                customer_id=customer_id)
        interactions.record(session=session, conversation_id=cid, direction="inbound",
                            author="customer", text="I need a human")
        interactions.record(session=session, conversation_id=cid, direction="inbound",
                            author="customer", text=SCRIPT)
        if customer_id is not None:
            conversations.link_customer(session=session, actor="test", conversation_id=cid,
                                        customer_id=customer_id)
        case = cases.open_case(session=session, actor="test",
                               subject="Handoff: asked for a person", type="handoff",
                               conversation_id=cid, customer_id=customer_id)
        support.set_status(session=session, conversation_id=cid, status="handoff",
                           reason="the customer asked for a person", case_id=case.id,
                           actor="service:test")
    return cid


def test_every_page_needs_login(client: TestClient, sessions: sessionmaker[Session]) -> None:
    cid = handed_off(sessions)
    for path in ("/console/", f"/console/conversations/{cid}"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login?next=")
    assert client.get("/console/api/queue").status_code == 401
    assert client.post(f"/console/conversations/{cid}/reply",
                       data={"text": "hi", "csrf": "x"}).status_code == 303


def test_wrong_password_is_refused(client: TestClient) -> None:
    form = client.get("/console/login")
    response = client.post("/console/login", data={
        "email": AGENT_EMAIL, "password": "wrong-password", "csrf": csrf_of(form.text)})
    assert response.status_code == 400
    assert "do not match" in response.text
    assert client.get("/console/").status_code == 303


def test_login_without_csrf_is_refused(client: TestClient) -> None:
    client.get("/console/login")
    response = client.post("/console/login", data={"email": AGENT_EMAIL,
                                                   "password": AGENT_PASSWORD, "csrf": "forged"})
    assert response.status_code == 400


def test_queue_lists_handoffs_and_escapes_customer_text(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = handed_off(sessions)
    login(client)
    page = client.get("/console/")
    assert page.status_code == 200
    assert cid in page.text
    assert SCRIPT not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    queue = client.get("/console/api/queue").json()["queue"]
    item = next(i for i in queue if i["id"] == cid)
    assert item["status"] == "handoff" and item["preview"] == SCRIPT
    assert item["waiting"] == "just now"


def test_conversation_page_shows_transcript_and_customer_record(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = handed_off(sessions, with_customer=True)
    login(client)
    page = client.get(f"/console/conversations/{cid}")
    assert page.status_code == 200
    assert "I need a human" in page.text
    assert SCRIPT not in page.text and "&lt;script&gt;" in page.text
    assert "Dana Ruiz" in page.text
    assert "last month&#39;s question" in page.text
    assert "Handoff: asked for a person" in page.text


def test_posts_without_the_csrf_token_are_403(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = handed_off(sessions)
    login(client)
    for action in ("claim", "reply", "note", "resolve"):
        response = client.post(f"/console/conversations/{cid}/{action}",
                               data={"text": "x", "csrf": "forged"})
        assert response.status_code == 403, action
    with sessions() as session:
        assert conversations.get(session=session, conversation_id=cid).status == "handoff"


def test_claim_reply_note_resolve(
    client: TestClient, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    cid = handed_off(sessions)
    csrf = login(client)
    claim = client.post(f"/console/conversations/{cid}/claim", data={"csrf": csrf})
    assert claim.status_code == 303 and "notice=claimed" in claim.headers["location"]
    with sessions() as session:
        conversation = conversations.get(session=session, conversation_id=cid)
        assert conversation.status == "agent" and conversation.assigned_agent_id is not None

    client.post(f"/console/conversations/{cid}/reply", data={"csrf": csrf,
                                                           "text": "Hi, Alex here."})
    client.post(f"/console/conversations/{cid}/note", data={"csrf": csrf,
                                                          "text": "VIP, be nice"})
    with sessions() as session:
        rows = interactions.list_for_conversation(session=session, conversation_id=cid)
        reply, note = rows[-2], rows[-1]
        assert (reply.direction, reply.author, reply.note, reply.text) == (
            "outbound", "agent", False, "Hi, Alex here.")
        assert reply.agent_id == conversation.assigned_agent_id
        assert (note.author, note.note, note.text) == ("agent", True, "VIP, be nice")
    history = client.get(f"/chat/{cid}/history").json()
    assert "VIP, be nice" not in [m["text"] for m in history["messages"]]
    assert "Hi, Alex here." in [m["text"] for m in history["messages"]]

    live = client.get(f"/console/api/conversations/{cid}/messages?after={reply.id - 1}").json()
    assert [m["text"] for m in live["messages"]] == ["Hi, Alex here.", "VIP, be nice"]

    resolved = client.post(f"/console/conversations/{cid}/resolve", data={"csrf": csrf})
    assert "notice=resolved" in resolved.headers["location"]
    assert fake_rasa.events[cid] == [{"event": "resume"},
                                     {"event": "slot", "name": "failed_turns", "value": 0},
                                     {"event": "action", "name": "action_listen"}]
    with sessions() as session:
        assert conversations.get(session=session, conversation_id=cid).status == "bot"
        assert cases.list_open_for_conversation(session=session, conversation_id=cid) == []


def test_resolve_keeps_the_conversation_when_rasa_is_down(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    cid = handed_off(sessions)
    with TestClient(create_app(settings.model_copy(update={"rasa_port": 9})),
                    follow_redirects=False) as client:
        csrf = login(client)
        response = client.post(f"/console/conversations/{cid}/resolve", data={"csrf": csrf})
    assert "notice=rasa-down" in response.headers["location"]
    with sessions() as session:
        assert conversations.get(session=session, conversation_id=cid).status == "handoff"


def test_logout_ends_the_session(client: TestClient) -> None:
    csrf = login(client)
    response = client.post("/console/logout", data={"csrf": csrf})
    assert response.status_code == 303
    assert client.get("/console/").status_code == 303


def test_login_redirect_target_stays_inside_the_console(client: TestClient) -> None:
    form = client.get("/console/login?next=https://evil.example/")
    assert 'name="next" value="/console/"' in form.text


def test_a_conversation_claimed_by_another_agent_is_not_taken_over(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = handed_off(sessions)
    with sessions.begin() as session:
        other = users.create_user(session=session, email="other@relay.test", name="Other Agent",
                                  password="another-password")
        support.set_status(session=session, conversation_id=cid, status="agent",
                           agent_id=other.id, actor="service:test")
    csrf = login(client)
    response = client.post(f"/console/conversations/{cid}/reply",
                           data={"csrf": csrf, "text": "me too"})
    assert "notice=taken" in response.headers["location"]
    with sessions() as session:
        assert conversations.get(session=session, conversation_id=cid).assigned_agent_id == other.id
        assert "me too" not in [r.text for r in interactions.list_for_conversation(
            session=session, conversation_id=cid)]


def test_only_the_agent_who_claimed_it_or_an_admin_resolves_it(
    client: TestClient, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    """Resolve says "taken" like claim and reply do (issue 15, #5)."""
    cid = handed_off(sessions)
    with sessions.begin() as session:
        other = users.create_user(session=session, email="owner@relay.test", name="Owner Agent",
                                  password="another-password")
        users.create_user(session=session, email="boss@relay.test", name="Boss Admin",
                          password="admin-password", role="admin")
        support.set_status(session=session, conversation_id=cid, status="agent",
                           agent_id=other.id, actor="service:test")
    csrf = login(client)
    response = client.post(f"/console/conversations/{cid}/resolve", data={"csrf": csrf})
    assert "notice=taken" in response.headers["location"]
    assert cid not in fake_rasa.events
    with sessions() as session:
        assert conversations.get(session=session, conversation_id=cid).status == "agent"
    client.post("/console/logout", data={"csrf": csrf})
    form = client.get("/console/login")
    client.post("/console/login", data={"email": "boss@relay.test", "password": "admin-password",
                                        "csrf": csrf_of(form.text), "next": "/console/"})
    admin_csrf = csrf_of(client.get("/console/").text)
    response = client.post(f"/console/conversations/{cid}/resolve", data={"csrf": admin_csrf})
    assert "notice=resolved" in response.headers["location"]
    with sessions() as session:
        assert conversations.get(session=session, conversation_id=cid).status == "bot"


def test_login_is_throttled_after_five_failures(client: TestClient) -> None:
    for _ in range(5):
        form = client.get("/console/login")
        response = client.post("/console/login", data={
            "email": AGENT_EMAIL, "password": "wrong-password", "csrf": csrf_of(form.text)})
        assert response.status_code == 400
    form = client.get("/console/login")
    response = client.post("/console/login", data={
        "email": AGENT_EMAIL, "password": AGENT_PASSWORD, "csrf": csrf_of(form.text)})
    assert response.status_code == 429
    assert "Too many failed logins" in response.text
    assert "Please try again in 15 minutes." in response.text
    assert 'name="password"' in response.text  # the form is shown again
    assert 14 * 60 < int(response.headers["Retry-After"]) <= 15 * 60
    assert client.get("/console/").status_code == 303


async def test_status_changes_by_the_bot_an_agent_and_the_api_are_all_audited(
    client: TestClient, sessions: sessionmaker[Session], settings: Settings,
    fake_rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whoever moves a conversation (action server, console, API), the audit log says who."""
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions import runtime
    from actions.handoff import ActionHandoff

    cid = f"web-{uuid.uuid4().hex}"
    monkeypatch.setattr(runtime, "_services", runtime.Services(
        settings=settings, sessions=sessions, faq=None, languages=None))  # type: ignore[arg-type]
    tracker = Tracker.from_dict({
        "sender_id": cid, "slots": {}, "events": [{"event": "user", "text": "a person please"}],
        "latest_message": {"text": "a person please", "intent": {"name": "ask_human"},
                           "metadata": {"channel": "web"}},
    })
    await ActionHandoff().run(CollectingDispatcher(), tracker, {})  # the bot
    csrf = login(client)
    client.post(f"/console/conversations/{cid}/claim", data={"csrf": csrf})  # an agent
    client.post(f"/console/conversations/{cid}/resolve", data={"csrf": csrf})
    # Rasa's own resume event (the event path) is applied, and changes nothing, before the
    # events below are posted.
    events.consume(sessions=sessions, actor="service:rasa")
    api = {"Authorization": f"Bearer {settings.service_token}"}  # the API (Rasa's events)
    for kind in ("pause", "resume"):
        posted = client.post("/internal/rasa-events", headers=api,
                             json={"events": [{"event": kind, "sender_id": cid}]})
        assert posted.status_code == 200, posted.text
    with sessions() as session:
        agent = users.get_by_email(session=session, email=AGENT_EMAIL)
        assert agent is not None
        rows = audit.list_entries(session=session, entity="conversation", entity_id=cid)
        changes = [(r.actor, r.action, r.before["status"] if r.before else None,
                    r.after["status"] if r.after else None) for r in reversed(rows)]
    assert changes == [
        ("relay-bot", "handoff", "bot", "handoff"),
        (f"user:{agent.id}", "claim", "handoff", "agent"),
        (f"user:{agent.id}", "resolve", "agent", "bot"),
        ("service:system", "handoff", "bot", "handoff"),
        ("service:system", "resume", "handoff", "bot"),
    ]


def test_an_id_beyond_64_bits_is_a_422_not_a_500(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    """?after= larger than any database integer is refused with a sentence (issue 15, #7)."""
    cid = handed_off(sessions)
    login(client)
    huge = client.get(f"/console/api/conversations/{cid}/messages?after=9223372036854775808")
    assert huge.status_code == 422 and "after" in huge.json()["detail"]
    assert client.get(f"/console/api/conversations/{cid}/messages?after=9223372036854775807"
                      ).json()["messages"] == []
    stream = client.get(f"/chat/web-{'a' * 32}/stream?after=9223372036854775808")
    assert stream.status_code == 422 and "after" in stream.json()["detail"]


def test_logout_ends_the_session_for_a_copied_cookie_too(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    """A cookie copied before logout reads nothing afterwards (issue 15, #3)."""
    cid = handed_off(sessions)
    csrf = login(client)
    stolen = dict(client.cookies)
    assert client.get("/console/api/queue").status_code == 200
    client.post("/console/logout", data={"csrf": csrf})
    with TestClient(create_app(client.app.state.settings), cookies=stolen,
                    follow_redirects=False) as thief:
        assert thief.get("/console/api/queue").status_code == 401
        note = thief.post(f"/console/conversations/{cid}/note",
                          data={"csrf": csrf, "text": "still here"})
        assert note.status_code == 303 and "/console/login" in note.headers["location"]
    with sessions() as session:
        assert "still here" not in [r.text for r in interactions.list_for_conversation(
            session=session, conversation_id=cid)]


def test_a_deactivated_agent_is_signed_out_at_once(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    login(client)
    assert client.get("/console/api/queue").status_code == 200
    with sessions.begin() as session:
        agent = users.get_by_email(session=session, email=AGENT_EMAIL)
        assert agent is not None
        users.set_active(session=session, user_id=agent.id, active=False, actor="user:1")
    assert client.get("/console/api/queue").status_code == 401
    with sessions.begin() as session:
        users.set_active(session=session, user_id=agent.id, active=True, actor="user:1")
    assert client.get("/console/api/queue").status_code == 401  # the old session stays ended


def test_a_telegram_reply_the_customer_blocked_shows_as_failed_and_can_be_sent_again(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = f"tg-{uuid.uuid4().int % 10**9}"
    with sessions.begin() as session:
        support.set_status(session=session, conversation_id=cid, status="handoff",
                           actor="service:test")
        sent = interactions.record(session=session, conversation_id=cid, direction="outbound",
                                   author="agent", text="first reply")
        blocked = interactions.record(session=session, conversation_id=cid,
                                      direction="outbound", author="agent", text="second reply")
        interactions.mark_delivered(session=session, interaction_id=sent.id)
        interactions.mark_failed(session=session, interaction_id=blocked.id,
                                 error="Forbidden: bot was blocked by the user")
    csrf = login(client)
    page = client.get(f"/console/conversations/{cid}").text
    assert "delivered</span>" in page
    assert "failed: Forbidden: bot was blocked by the user" in page
    live = client.get(f"/console/api/conversations/{cid}/messages").json()
    assert {(d["id"], d["status"]) for d in live["deliveries"]} == {
        (sent.id, "delivered"), (blocked.id, "failed")}
    assert client.post(f"/console/conversations/{cid}/messages/{blocked.id}/retry",
                       data={"csrf": "wrong"}).status_code == 403
    again = client.post(f"/console/conversations/{cid}/messages/{blocked.id}/retry",
                        data={"csrf": csrf})
    assert again.headers["location"].endswith("notice=retrying")
    missing = client.post(f"/console/conversations/web-{'0' * 32}/messages/{blocked.id}/retry",
                          data={"csrf": csrf})
    assert missing.status_code == 404  # was a 200 "not failed" for a conversation that is not
    with sessions() as session:
        assert interactions.list_undelivered(session=session, conversation_id=cid)[0].id == (
            blocked.id)
        rows = audit.list_entries(session=session, entity="interaction",
                                  entity_id=blocked.id)
        assert [r.action for r in rows] == ["retry_delivery"]


def test_a_widget_conversation_shows_no_delivery_state(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = handed_off(sessions)
    login(client)
    assert "data-delivery" not in client.get(f"/console/conversations/{cid}").text


def test_a_clicked_button_shows_by_its_title_in_the_queue_transcript_and_live_view(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    """A click is logged as its payload ("/ask_human"); the agent reads the title the customer
    clicked, as the widget showed it, and the payload stays on hover."""
    cid = f"web-{uuid.uuid4().hex}"
    with sessions.begin() as session:
        interactions.record(session=session, conversation_id=cid, direction="outbound",
                            author="bot", text="Would you like a person?",
                            buttons=[{"title": "Talk to a person", "payload": "/ask_human"}])
        support.set_status(session=session, conversation_id=cid, status="handoff",
                           reason="the customer asked for a person", actor="service:test")
    login(client)
    first = client.get(f"/console/api/conversations/{cid}/messages?after=0").json()
    with sessions.begin() as session:
        interactions.record(session=session, conversation_id=cid, direction="inbound",
                            author="customer", text="/ask_human")
        interactions.record(session=session, conversation_id=cid, direction="inbound",
                            author="customer", text="/etc/hosts went missing")
    live = client.get(f"/console/api/conversations/{cid}/messages",
                      params={"after": max(m["id"] for m in first["messages"])}).json()
    assert [(m["text"], m["clicked"]) for m in live["messages"]] == [
        ("/ask_human", "Talk to a person"), ("/etc/hosts went missing", None)]
    page = client.get(f"/console/conversations/{cid}").text
    assert 'title="/ask_human">Clicked “Talk to a person”</span>' in page
    assert "/etc/hosts went missing" in page
    queue = client.get("/console/api/queue").json()["queue"]
    assert next(i for i in queue if i["id"] == cid)["preview"] == "/etc/hosts went missing"
    with sessions.begin() as session:
        interactions.record(session=session, conversation_id=cid, direction="inbound",
                            author="customer", text="/ask_human")
    queue = client.get("/console/api/queue").json()["queue"]
    assert next(i for i in queue if i["id"] == cid)["preview"] == "Talk to a person"


def test_a_claimed_conversation_whose_customer_wrote_last_awaits_a_reply(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    """In a busy "Mine" the agent sees which customers wrote after their last reply, and
    for how long they have waited since that message (not since the handoff)."""
    cid = handed_off(sessions)
    csrf = login(client)

    def row() -> dict[str, Any]:
        queue = client.get("/console/api/queue?view=all").json()["queue"]
        return next(i for i in queue if i["id"] == cid)

    assert row()["unanswered"] is False  # waiting for a person: the status says it already
    client.post(f"/console/conversations/{cid}/reply", data={"csrf": csrf, "text": "Hi!"})
    assert row()["unanswered"] is False
    with sessions.begin() as session:
        said = interactions.record(session=session, conversation_id=cid, direction="inbound",
                                   author="customer", text="still there?")
        said_at = said.created_at
    item = row()
    assert item["unanswered"] is True
    assert item["waiting_since"] == said_at.isoformat()
    assert 'class="unanswered">awaits reply' in client.get("/console/?view=all").text
    client.post(f"/console/conversations/{cid}/reply", data={"csrf": csrf, "text": "Yes!"})
    assert row()["unanswered"] is False
