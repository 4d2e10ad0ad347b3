"""The widget gateway: message forwarding, validation, history, SSE stream, Rasa-down fallback."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_store import customers, interactions
from crm_store.models import Interaction
from relay.app import create_app
from relay.settings import Settings
from tests.channels.fake_rasa import FakeRasa


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """The real API app (create_app) with its lifespan running."""
    with TestClient(create_app(settings)) as client:
        yield client


def web_id() -> str:
    """A fresh widget conversation id."""
    return f"web-{uuid.uuid4().hex}"


def test_demo_page_and_widget_assets(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert '<script src="/widget.js"' in page.text
    assert "Nimbus Drive" in page.text
    script = client.get("/widget.js")
    assert script.headers["content-type"].startswith("application/javascript")
    assert "innerHTML" not in script.text
    assert client.get("/widget.css").status_code == 200


def test_message_is_forwarded_with_channel_metadata(
    client: TestClient, fake_rasa: FakeRasa
) -> None:
    cid = web_id()
    response = client.post(f"/chat/{cid}/messages", json={"text": "  hello "})
    assert response.status_code == 200
    assert response.json() == {"replies": [{"text": "Hi! How can I help?", "buttons": [
        {"title": "Talk to a person", "payload": "/ask_human"},
        {"title": "Pricing", "payload": "/ask_pricing"}]}]}
    assert len(fake_rasa.messages) == 1
    message_id = fake_rasa.messages[0]["metadata"].pop("message_id")
    assert fake_rasa.messages == [{"sender": cid, "message": "hello",
                                   "metadata": {"channel": "web"}}]
    assert len(message_id) == 32  # names the message, so a resend is handled once
    assert response.headers["access-control-allow-origin"] == "*"


def test_forwarded_message_is_not_logged_by_the_gateway(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = web_id()
    client.post(f"/chat/{cid}/messages", json={"text": "hello"})
    with sessions() as session:
        assert interactions.list_for_conversation(session=session, conversation_id=cid) == []


@pytest.mark.parametrize("bad", ["web-123", "tg-42", "web-" + "A" * 32, "web-" + "0" * 31 + "g"])
def test_bad_conversation_id_is_400_with_a_sentence(client: TestClient, bad: str) -> None:
    response = client.post(f"/chat/{bad}/messages", json={"text": "hi"})
    assert response.status_code == 400
    assert "32 lowercase hex" in response.json()["detail"]
    assert client.get(f"/chat/{bad}/history").status_code == 400


def test_empty_and_too_long_messages(client: TestClient, fake_rasa: FakeRasa) -> None:
    cid = web_id()
    empty = client.post(f"/chat/{cid}/messages", json={"text": "   "})
    assert empty.status_code == 422 and empty.json()["detail"] == "The message is empty."
    long = client.post(f"/chat/{cid}/messages", json={"text": "x" * 2001})
    assert long.status_code == 413 and "at most 2000 characters" in long.json()["detail"]
    extra = client.post(f"/chat/{cid}/messages", json={"text": "hi", "x": 1})
    assert extra.status_code == 422 and "one field" in extra.json()["detail"]
    assert client.post(f"/chat/{cid}/messages", content=b"not json").status_code == 422
    assert fake_rasa.messages == []


def test_rasa_down_keeps_the_message_and_queues_it(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    down = settings.model_copy(update={"rasa_port": 9})  # discard port: nothing listens
    cid = web_id()
    with TestClient(create_app(down)) as client:
        response = client.post(f"/chat/{cid}/messages", json={"text": "my invoice is wrong"})
    assert response.status_code == 200
    assert "saved" in response.json()["replies"][0]["text"]
    with sessions() as session:
        rows = interactions.list_for_conversation(session=session, conversation_id=cid)
        assert [(r.direction, r.author, r.text[:18]) for r in rows] == [
            ("inbound", "customer", "my invoice is wrong"[:18]),
            ("outbound", "system", "Thanks, your messa")]
        from crm_store import conversations

        conversation = conversations.get(session=session, conversation_id=cid)
        assert conversation is not None and conversation.status == "handoff"


def test_history_lists_messages_without_notes(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = web_id()
    with sessions.begin() as session:
        interactions.record(session=session, conversation_id=cid, direction="inbound",
                            author="customer", text="<b>hi</b>")
        interactions.record(session=session, conversation_id=cid, direction="outbound",
                            author="bot", text="Hello!")
        interactions.add_note(session=session, conversation_id=cid, text="secret note")
    body = client.get(f"/chat/{cid}/history").json()
    assert [(m["author"], m["text"]) for m in body["messages"]] == [
        ("customer", "<b>hi</b>"), ("bot", "Hello!")]
    assert body["last_id"] == body["messages"][-1]["id"]
    assert body["status"] == "bot"


def test_stream_delivers_agent_replies_written_later(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = web_id()
    with sessions.begin() as session:
        first = interactions.record(session=session, conversation_id=cid, direction="outbound",
                                    author="agent", text="already seen")
        first_id = first.id

    def write_later() -> None:
        time.sleep(0.8)
        with sessions.begin() as session:
            interactions.add_note(session=session, conversation_id=cid, text="internal only")
            interactions.record(session=session, conversation_id=cid, direction="outbound",
                                author="bot", text="a bot line")
            interactions.record(session=session, conversation_id=cid, direction="outbound",
                                author="agent", text="Hi, this is Sam from support")

    threading.Thread(target=write_later, daemon=True).start()
    received = []
    with client.stream("GET", f"/chat/{cid}/stream?after={first_id}") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                received.append(json.loads(line[6:]))
                break
    assert [m["text"] for m in received] == ["Hi, this is Sam from support"]
    assert received[0]["author"] == "agent"


def test_stream_sends_a_reply_whose_lower_id_commits_late(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    """On PostgreSQL a lower id can commit after a higher one; SQLite needs explicit ids."""
    cid = web_id()
    with sessions.begin() as session:
        first_id = interactions.record(session=session, conversation_id=cid,
                                       direction="outbound", author="agent",
                                       text="already seen").id

    def reply(interaction_id: int, text: str) -> None:
        with sessions.begin() as session:
            session.add(Interaction(id=interaction_id, conversation_id=cid, channel="web",
                                    direction="outbound", author="agent", text=text))

    def write_later() -> None:
        time.sleep(0.5)
        reply(first_id + 100, "committed first, higher id")
        time.sleep(1.5)  # the stream has sent it and moved its cursor past first_id + 50
        reply(first_id + 50, "committed second, lower id")

    threading.Thread(target=write_later, daemon=True).start()
    received = []
    with client.stream("GET", f"/chat/{cid}/stream?after={first_id}") as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                received.append(json.loads(line[6:]))
                if len(received) == 2:
                    break
    assert [(m["id"], m["text"]) for m in received] == [
        (first_id + 100, "committed first, higher id"),
        (first_id + 50, "committed second, lower id")]


def test_stream_brings_notices_but_not_replies_given_in_the_turn(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = web_id()

    def write_later() -> None:
        time.sleep(0.5)
        with sessions.begin() as session:
            interactions.record(session=session, conversation_id=cid, direction="outbound",
                                author="system", text="Your message is saved.", delivered=True)
            interactions.record(session=session, conversation_id=cid, direction="outbound",
                                author="system", text="Sam has joined the chat.")

    threading.Thread(target=write_later, daemon=True).start()
    with client.stream("GET", f"/chat/{cid}/stream?after=0") as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                received = json.loads(line[6:])
                break
    assert (received["author"], received["text"]) == ("system", "Sam has joined the chat.")
    history = client.get(f"/chat/{cid}/history").json()
    assert [m["text"] for m in history["messages"]] == [
        "Your message is saved.", "Sam has joined the chat."]


@pytest.mark.parametrize("path", ["/", "/console/login", "/docs", "/redoc"])
def test_pages_forbid_framing_sniffing_and_foreign_scripts(client: TestClient, path: str) -> None:
    """Every page says: no framing, no MIME sniffing, scripts from known places only
    (issue 15, #6)."""
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    if not path.startswith(("/docs", "/redoc")):
        assert "script-src 'self';" in policy


def test_json_and_scripts_get_a_policy_that_allows_nothing(client: TestClient) -> None:
    for path in ("/healthz", "/widget.js", f"/chat/web-{'a' * 32}/history"):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["content-security-policy"].startswith("default-src 'none'"), path


def test_a_signed_in_visitor_is_verified_by_the_hmac_and_a_forged_one_is_refused(
    client: TestClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """Intercom-style identity verification: the right HMAC verifies the conversation for that
    customer (found or created); a wrong one is a clear 403, audited, and changes nothing."""
    from crm_store import audit, verification

    cid, other = web_id(), web_id()
    good = verification.identity_hash(settings.identity_secret, "site-42")
    forged = client.post(f"/chat/{cid}/identity", json={
        "user_id": "site-42", "user_hash": verification.identity_hash("guess", "site-42")})
    assert forged.status_code == 403 and "HMAC-SHA256" in forged.json()["detail"]
    assert forged.headers["access-control-allow-origin"] == "*"
    swapped = client.post(f"/chat/{cid}/identity", json={"user_id": "site-43", "user_hash": good})
    assert swapped.status_code == 403
    with sessions() as session:
        assert verification.verified_customer_id(session=session, conversation_id=cid) is None
        refused = audit.list_entries(session=session, entity="conversation", entity_id=cid)
        assert [r.action for r in refused] == ["identity_refused"] * 2

    ok = client.post(f"/chat/{cid}/identity", json={"user_id": "site-42", "user_hash": good,
                                                     "email": "ana@example.com", "name": "Ana"})
    assert ok.status_code == 200 and ok.json() == {"verified": True}
    again = client.post(f"/chat/{cid}/identity", json={"user_id": "site-42", "user_hash": good})
    assert again.status_code == 200
    with sessions() as session:
        customer_id = verification.verified_customer_id(session=session, conversation_id=cid)
        assert customer_id is not None
        customer = customers.get_or_raise(session=session, customer_id=customer_id)
        assert (customer.external_id, customer.email, customer.name) == (
            "site-42", "ana@example.com", "Ana")
        [identity] = customer.identities
        assert identity.verified_at is not None and identity.external_id == cid[4:]
    assert client.post(f"/chat/{other}/identity",
                       json={"user_id": "site-42", "user_hash": good}).status_code == 200
    someone_else = verification.identity_hash(settings.identity_secret, "site-99")
    taken = client.post(f"/chat/{cid}/identity", json={"user_id": "site-99",
                                                        "user_hash": someone_else})
    assert taken.status_code == 409 and "another customer" in taken.json()["detail"]
    bad = client.post(f"/chat/{cid}/identity", json={"user": "x"})
    assert bad.status_code == 422


def test_without_an_identity_secret_every_signed_identity_is_refused(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    from crm_store import verification

    unset = settings.model_copy(update={"identity_secret": ""})
    with TestClient(create_app(unset)) as client:
        response = client.post(f"/chat/{web_id()}/identity", json={
            "user_id": "site-1", "user_hash": verification.identity_hash("", "site-1")})
    assert response.status_code == 403
