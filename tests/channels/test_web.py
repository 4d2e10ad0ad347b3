"""The widget gateway: message forwarding, validation, history, SSE stream, Rasa starting.

The fake Rasa writes its tracker events to the test database like the real one, and the app's
lifespan runs the event follower, so what the CRM logs comes the real way.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.inbound import WITHDRAWN_NOTE
from crm_store import conversations, customers, interactions
from crm_store.events import EventFollower
from crm_store.models import Interaction, utcnow
from relay import responses
from relay.app import create_app
from relay.settings import Settings
from tests.channels.fake_rasa import FakeRasa
from tests.tracker_store import add_events


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
    before = time.time()
    response = client.post(f"/chat/{cid}/messages", json={"text": "  hello ", "id": "msg-0001"})
    assert response.status_code == 200
    assert response.json() == {"replies": [{"text": "Hi! How can I help?", "buttons": [
        {"title": "Talk to a person", "payload": "/ask_human"},
        {"title": "Pricing", "payload": "/ask_pricing"}]}]}
    assert len(fake_rasa.messages) == 1
    message_id = fake_rasa.messages[0]["metadata"].pop("message_id")
    received_at = fake_rasa.messages[0]["metadata"].pop("received_at")
    assert fake_rasa.messages == [{"sender": cid, "message": "hello",
                                   "metadata": {"channel": "web"}}]
    assert before - 1 <= received_at <= time.time()  # when it came, for the transcript's order
    assert message_id == "msg-0001"  # the widget's id: a resend is handled once
    assert response.headers["access-control-allow-origin"] == "*"


def test_the_chosen_language_and_the_browsers_reach_rasa(
    client: TestClient, fake_rasa: FakeRasa
) -> None:
    cid = web_id()
    client.post(f"/chat/{cid}/messages", json={"text": "hola", "language": "es"},
                headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.8"})
    client.post(f"/chat/{cid}/messages", json={"text": "hallo"},
                headers={"Accept-Language": "tlh, fr;q=0.5"})  # unknown: no hint
    sent = [{k: v for k, v in m["metadata"].items() if k not in ("message_id", "received_at")}
            for m in fake_rasa.messages]
    assert sent == [{"channel": "web", "language": "es", "language_hint": "de"},
                    {"channel": "web"}]


def test_the_widget_knows_the_languages_and_greets_in_each(client: TestClient) -> None:
    script = client.get("/widget.js").text
    texts = json.loads(script.split("var SERVER = ", 1)[1].split(";\n", 1)[0])
    assert list(texts["languages"]) == ["en", "zh", "es", "de", "fr", "pt"]
    assert texts["languages"]["zh"] == "中文"
    assert "en" in texts["welcome"] and set(texts["welcome"]) <= set(texts["languages"])
    assert "chat-language" in client.get("/").text  # the demo page's switch


def logged(sessions: sessionmaker[Session], cid: str) -> list[tuple[str, str, bool]]:
    """(author, text, delivered) of a conversation's CRM log."""
    with sessions() as session:
        return [(r.author, r.text, r.delivered_at is not None)
                for r in interactions.list_for_conversation(session=session,
                                                            conversation_id=cid)]


def status(sessions: sessionmaker[Session], cid: str) -> str | None:
    """The conversation's status in the CRM (None if it has none yet)."""
    with sessions() as session:
        conversation = conversations.get(session=session, conversation_id=cid)
        return conversation.status if conversation else None


def eventually(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll condition() until truthy; AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {condition}")


def test_a_forwarded_message_is_logged_once_by_the_event_path(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = web_id()
    client.post(f"/chat/{cid}/messages", json={"text": "pricing?"})
    eventually(lambda: len(logged(sessions, cid)) == 2)
    time.sleep(0.5)
    # The reply was in the HTTP answer: delivered, so the stream does not send it again.
    assert logged(sessions, cid) == [("customer", "pricing?", False),
                                     ("bot", "You said: pricing?", True)]


def test_a_retried_post_is_handled_once_and_gets_the_same_replies(
    client: TestClient, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    cid = web_id()
    first = client.post(f"/chat/{cid}/messages", json={"text": "hello", "id": "retry-123"})
    again = client.post(f"/chat/{cid}/messages", json={"text": "hello", "id": "retry-123"})
    assert first.json() == again.json() and first.json()["replies"]
    assert [m["message"] for m in fake_rasa.messages] == ["hello"]
    eventually(lambda: len(logged(sessions, cid)) == 2)
    time.sleep(0.5)
    assert [a for a, _, _ in logged(sessions, cid)] == ["customer", "bot"]


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
    assert extra.status_code == 422 and "your id for the message" in extra.json()["detail"]
    bad_id = client.post(f"/chat/{cid}/messages", json={"text": "hi", "id": "<x>"})
    assert bad_id.status_code == 422
    klingon = client.post(f"/chat/{cid}/messages", json={"text": "hi", "language": "tlh"})
    assert klingon.status_code == 422 and "must be one of en, zh" in klingon.json()["detail"]
    assert client.post(f"/chat/{cid}/messages", content=b"not json").status_code == 422
    nul = client.post(f"/chat/{cid}/messages", json={"text": "\u0000\u0007 \u202e"})
    assert nul.status_code == 422 and nul.json()["detail"] == "The message is empty."
    assert fake_rasa.messages == []


def test_control_characters_never_reach_rasa(client: TestClient, fake_rasa: FakeRasa) -> None:
    """NUL made PostgreSQL refuse the message wherever it was written (Rasa's tracker store,
    the CRM: crm_store/test_plain_text.py)."""
    cid = web_id()
    sent = client.post(f"/chat/{cid}/messages",
                       json={"text": "how much is pro\u0000\u0007\u001b[31m?"})
    assert sent.status_code == 200
    assert [m["message"] for m in fake_rasa.messages] == ["how much is pro[31m?"]


def test_while_rasa_starts_a_message_waits_and_its_reply_comes_on_the_stream(
    settings: Settings, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    fake_rasa.down = True
    quick = settings.model_copy(update={"rasa_hold_seconds": 1.0})
    cid = web_id()
    with TestClient(create_app(quick)) as client:
        started = time.monotonic()
        response = client.post(f"/chat/{cid}/messages", json={"text": "my invoice is wrong"})
        assert time.monotonic() - started >= 0.5  # held while Rasa might come back
        assert "restarting" in response.json()["replies"][0]["text"]
        assert status(sessions, cid) == "bot"  # not handed to a person
        fake_rasa.down = False
        received = []
        with client.stream("GET", f"/chat/{cid}/stream?after=0") as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    if received[-1]["author"] == "bot":
                        break
    assert received[-1]["text"] == "You said: my invoice is wrong"
    assert [m["message"] for m in fake_rasa.messages] == ["my invoice is wrong"]
    metadata = fake_rasa.messages[0]["metadata"]
    assert metadata == {"channel": "web", "in_turn": False, "message_id": metadata["message_id"],
                        "received_at": metadata["received_at"]}
    # The transcript has it when the customer said it, before the notice that it waits.
    assert [(a, t) for a, t, _ in logged(sessions, cid)] == [
        ("customer", "my invoice is wrong"), ("system", responses.text("utter_one_moment", "en")),
        ("bot", "You said: my invoice is wrong")]


def test_an_older_waiting_message_goes_to_rasa_before_a_new_one(
    settings: Settings, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    fake_rasa.down = True
    quick = settings.model_copy(update={"rasa_hold_seconds": 0.5})
    cid = web_id()
    with TestClient(create_app(quick)) as client:
        client.post(f"/chat/{cid}/messages", json={"text": "first"})
        fake_rasa.down = False
        second = client.post(f"/chat/{cid}/messages", json={"text": "second"})
    assert second.json()["replies"][0]["text"] == "You said: second"
    assert [m["message"] for m in fake_rasa.messages] == ["first", "second"]


def test_rasa_down_too_long_hands_the_conversation_to_a_person(
    settings: Settings, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    fake_rasa.down = True
    impatient = settings.model_copy(update={"rasa_hold_seconds": 0.5,
                                            "rasa_handoff_after_seconds": 0.0})
    cid = web_id()
    with TestClient(create_app(impatient)) as client:
        response = client.post(f"/chat/{cid}/messages", json={"text": "my invoice is wrong"})
    assert "saved" in response.json()["replies"][0]["text"]
    assert [(a, t[:18]) for a, t, _ in logged(sessions, cid)] == [
        ("customer", "my invoice is wrong"[:18]), ("system", "Thanks, your messa")]
    assert status(sessions, cid) == "handoff"


@pytest.mark.parametrize(("language", "header"), [("es", None), (None, "de-DE,de;q=0.9")])
def test_the_gateways_own_notices_are_in_the_customers_language(
    settings: Settings, sessions: sessionmaker[Session], fake_rasa: FakeRasa,
    language: str | None, header: str | None,
) -> None:
    """Rasa down: "one moment" and "saved for a person" are the gateway's, not the bot's, and
    still come in the language the customer chose (or their browser's) (issue 11)."""
    fake_rasa.down = True
    expected = language or "de"
    body = {"text": "hola" if language else "hallo", **({"language": language} if language else {})}
    headers = {"Accept-Language": header} if header else {}
    quick = settings.model_copy(update={"rasa_hold_seconds": 0.3})
    impatient = quick.model_copy(update={"rasa_handoff_after_seconds": 0.0})
    cid = web_id()
    with TestClient(create_app(quick)) as client:
        waiting = client.post(f"/chat/{cid}/messages", json=body, headers=headers)
    assert waiting.json()["replies"][0]["text"] == responses.text("utter_one_moment", expected)
    with TestClient(create_app(impatient)) as client:
        saved = client.post(f"/chat/{cid}/messages", headers=headers,
                            json={**body, "text": "sigo aquí" if language else "noch da"})
    said = responses.text("utter_saved_for_later", expected)
    assert saved.json()["replies"][0]["text"] == said != responses.text("utter_saved_for_later",
                                                                         "en")
    assert ("system", said) in [(a, t) for a, t, _ in logged(sessions, cid)]


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


def test_history_includes_a_turn_rasa_committed_that_the_follower_has_not_read_yet(
    settings: Settings, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reload right after the reply: Rasa has committed the turn, the API's follower has not
    applied it yet (here it never runs); the restored transcript still has the turn."""
    async def idle(self: EventFollower) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(EventFollower, "run", idle)
    cid = web_id()
    add_events(sessions.kw["bind"], cid, [
        {"event": "user", "text": "how much is pro?", "parse_data": {"intent": {
            "name": "ask_question", "confidence": 0.99}}, "input_channel": "gateway"},
        {"event": "bot", "text": "Pro is $8 a month.", "data": {}, "metadata": {}},
    ])
    with TestClient(create_app(settings)) as client:
        body = client.get(f"/chat/{cid}/history").json()
    assert [(m["author"], m["text"]) for m in body["messages"]] == [
        ("customer", "how much is pro?"), ("bot", "Pro is $8 a month.")]


def test_history_names_a_clicked_button_by_its_title(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    """After a reload the customer sees the buttons they clicked as they saw them (the CRM
    logs a click as its payload), and a typed message that starts with a slash as typed."""
    cid = web_id()
    person = [{"title": "Talk to a person", "payload": "/ask_human"},
              {"title": "No, I'll rephrase", "payload": "/deny"}]
    with sessions.begin() as session:
        def say(author: str, text: str, **extra: Any) -> None:
            interactions.record(session=session, conversation_id=cid, author=author, text=text,
                                direction="inbound" if author == "customer" else "outbound",
                                **extra)
        say("customer", "/deny")  # no button offered it yet: a payload nobody saw as a title
        say("bot", "I'm not sure. Would you like a person?", buttons=person)
        say("bot", "Or ask again in other words.")
        say("customer", "/ask_human")
        say("customer", "/etc/hosts is gone after the sync")
    messages = client.get(f"/chat/{cid}/history").json()["messages"]
    assert [(m["text"], m.get("shown_text")) for m in messages if m["author"] == "customer"] == [
        ("/deny", None), ("/ask_human", "Talk to a person"),
        ("/etc/hosts is gone after the sync", None)]


def first_streamed(client: TestClient, cid: str, after: int,
                   write: Callable[[], None]) -> dict[str, Any]:
    """The first message the widget's stream opened at `after` sends, while write() runs in a
    thread half a second later (so the stream is open, and waiting, when it is written)."""

    def later() -> None:
        time.sleep(0.5)
        write()

    threading.Thread(target=later, daemon=True).start()
    with client.stream("GET", f"/chat/{cid}/stream?after={after}") as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                return dict(json.loads(line[6:]))
    raise AssertionError("the stream ended without a message")


def test_history_is_in_the_order_said_and_its_stream_cursor_repeats_nothing(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    """Rasa's turn read late: the customer's message and a replayed bot reply nobody was
    waiting for are logged after a notice that followed them (higher ids, earlier times)."""
    cid = web_id()
    said_at = utcnow()
    with sessions.begin() as session:
        interactions.record(session=session, conversation_id=cid, direction="outbound",
                            author="system", text="Sam has joined the chat.")
        interactions.record(session=session, conversation_id=cid, direction="inbound",
                            author="customer", text="I want to talk to a person",
                            created_at=said_at)
        interactions.record(session=session, conversation_id=cid, direction="outbound",
                            author="bot", text="One moment, please.",
                            created_at=said_at + timedelta(milliseconds=1))
    history = client.get(f"/chat/{cid}/history").json()
    assert [m["text"] for m in history["messages"]] == [
        "I want to talk to a person", "One moment, please.", "Sam has joined the chat."]
    assert history["last_id"] == max(m["id"] for m in history["messages"])

    def reply() -> None:
        with sessions.begin() as session:
            interactions.record(session=session, conversation_id=cid, direction="outbound",
                                author="agent", text="Hi, Sam here.")

    received = first_streamed(client, cid, history["last_id"], reply)
    assert received["text"] == "Hi, Sam here."  # nothing the history showed comes again


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
                                author="bot", text="a bot line", delivered=True)
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

    def write() -> None:
        with sessions.begin() as session:
            interactions.record(session=session, conversation_id=cid, direction="outbound",
                                author="system", text="Your message is saved.", delivered=True)
            interactions.record(session=session, conversation_id=cid, direction="outbound",
                                author="system", text="Sam has joined the chat.")

    received = first_streamed(client, cid, 0, write)
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


def _waiting_for_a_person(client: TestClient, sessions: sessionmaker[Session]) -> str:
    """A new widget conversation whose customer asked for a person (the queue has it)."""
    cid = web_id()
    client.post(f"/chat/{cid}/messages", json={"text": "human please"})
    eventually(lambda: status(sessions, cid) == "handoff")
    return cid


def test_a_waiting_customer_who_no_longer_needs_a_person_gets_the_assistant_back(
    client: TestClient, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    cid = _waiting_for_a_person(client, sessions)
    forwarded = len(fake_rasa.messages)
    response = client.post(f"/chat/{cid}/messages", json={"text": "actually never mind, thanks"})
    assert response.json()["replies"] == [
        {"text": responses.text("utter_handoff_withdrawn", None), "buttons": []}]
    assert len(fake_rasa.messages) == forwarded  # Rasa was resumed, not sent the message
    assert cid not in fake_rasa.paused
    assert [e["event"] for e in fake_rasa.events[cid]][:1] == ["resume"]
    assert status(sessions, cid) == "bot"
    said = logged(sessions, cid)
    assert said[-3:] == [("customer", "actually never mind, thanks", False),
                         ("agent", WITHDRAWN_NOTE, False),
                         ("system", responses.text("utter_handoff_withdrawn", None), True)]
    history = [m["text"] for m in client.get(f"/chat/{cid}/history").json()["messages"]]
    assert "actually never mind, thanks" in history and WITHDRAWN_NOTE not in history
    # The assistant answers again.
    again = client.post(f"/chat/{cid}/messages", json={"text": "pricing?"})
    assert again.json()["replies"][0]["text"] == "You said: pricing?"


def test_more_than_backing_out_stays_for_the_person(
    client: TestClient, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    cid = _waiting_for_a_person(client, sessions)
    response = client.post(f"/chat/{cid}/messages", json={"text": "cancel my subscription"})
    assert response.json()["replies"] == []  # Rasa is paused: the person will answer
    assert fake_rasa.messages[-1]["message"] == "cancel my subscription"
    assert status(sessions, cid) == "handoff" and cid in fake_rasa.paused


def test_backing_out_once_a_person_has_the_conversation_goes_to_that_person(
    client: TestClient, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    cid = _waiting_for_a_person(client, sessions)
    with sessions.begin() as session:
        conversations.get_or_raise(session=session, conversation_id=cid).status = "agent"
    response = client.post(f"/chat/{cid}/messages", json={"text": "never mind"})
    assert response.json()["replies"] == []
    assert fake_rasa.messages[-1]["message"] == "never mind"
    assert status(sessions, cid) == "agent" and cid in fake_rasa.paused
    assert "resume" not in [e["event"] for e in fake_rasa.events.get(cid, [])]


def test_never_mind_to_the_bot_itself_is_an_ordinary_message(
    client: TestClient, fake_rasa: FakeRasa
) -> None:
    cid = web_id()
    response = client.post(f"/chat/{cid}/messages", json={"text": "never mind"})
    assert response.json()["replies"][0]["text"] == "You said: never mind"
    assert fake_rasa.events.get(cid) is None
