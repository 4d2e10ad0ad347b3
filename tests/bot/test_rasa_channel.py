"""Rasa's gateway channel (bot/rasa_channel.py) on the real Rasa server.

It heals a conversation an earlier fault left not listening, refuses callers without the
token and malformed input, and reads typed slash commands as words.
"""

from __future__ import annotations

import httpx
import pytest

from relay.users import Customer, longest_action_run, tracker_events
from tests.conftest import RelayStack, new_conversation_id, rasa_channel_constant

pytestmark = pytest.mark.integration


def _webhook(stack: RelayStack) -> str:
    return f"{stack.rasa_url}/webhooks/relay/webhook"


def test_a_conversation_stuck_by_the_circuit_breaker_recovers_on_the_next_message(
    relay_stack: RelayStack,
) -> None:
    customer = Customer(relay_stack.api_url)
    assert customer.say("how much is pro?").replies
    # What the old fallback left behind: a message followed by ten actions and no listen.
    stuck = [{"event": "user", "text": "and per year?",
              "parse_data": {"intent": {"name": "inform", "confidence": 0.97}}}]
    stuck += [{"event": "action", "name": "action_answer_faq"}] * 10
    response = httpx.post(
        f"{relay_stack.rasa_url}/conversations/{customer.conversation_id}/tracker/events",
        params={"token": relay_stack.settings.rasa_token}, json=stuck, timeout=60)
    assert response.status_code == 200, response.text
    token = relay_stack.settings.rasa_token
    assert longest_action_run(tracker_events(relay_stack.rasa_url, token,
                                             customer.conversation_id)) == 10

    turn = customer.say("I want to talk to a human")
    assert turn.replies, "the stuck conversation is still silent"
    assert customer.status() == "handoff"
    customer.close()


def test_the_channel_refuses_callers_without_the_token(relay_stack: RelayStack) -> None:
    body = {"sender": new_conversation_id(), "message": "hi"}
    assert httpx.post(_webhook(relay_stack), json=body, timeout=30).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert httpx.post(_webhook(relay_stack), json=body, headers=wrong,
                      timeout=30).status_code == 401
    assert httpx.get(f"{relay_stack.rasa_url}/webhooks/rest/webhook",
                     timeout=30).status_code == 404, "Rasa's open REST channel must be gone"


@pytest.mark.parametrize(("body", "status"), [
    ({"sender": "<b>x</b>", "message": "hi"}, 400),
    ({"sender": "web-" + "a" * 65, "message": "hi"}, 400),
    ({"sender": "web-abc", "message": ""}, 400),
    ({"sender": "web-abc", "message": 5}, 400),
    ({"sender": "web-abc", "message": "x" * 4097}, 413),
    ({"sender": "web-abc", "message": "hi", "metadata": []}, 400),
    ([], 400),
])
def test_the_channel_refuses_malformed_messages_with_a_sentence(
    relay_stack: RelayStack, body: object, status: int
) -> None:
    headers = {"Authorization": f"Bearer {relay_stack.settings.rasa_token}"}
    response = httpx.post(_webhook(relay_stack), json=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize("command", ["/restart", "/back", "/session_start", "/nonsense"])
def test_typed_slash_commands_are_answered_not_obeyed(
    relay_stack: RelayStack, command: str
) -> None:
    sender = new_conversation_id()
    assert relay_stack.say(sender, "how much is pro?")
    replies = relay_stack.say(sender, command)
    assert replies, f"{command} got no answer"
    events = tracker_events(relay_stack.rasa_url, relay_stack.settings.rasa_token, sender)
    assert not any(e.get("event") in ("restart", "undo", "rewind") for e in events)
    assert any(e.get("event") == "user" and e.get("text") == "how much is pro?" for e in events)


def test_a_message_sent_again_is_handled_once_and_answered_again(
    relay_stack: RelayStack,
) -> None:
    sender = new_conversation_id("web")
    body = {"sender": sender, "message": "how do I reset my password?",
            "metadata": {"channel": "web", "message_id": "m-once-1"}}
    headers = {"Authorization": f"Bearer {relay_stack.settings.rasa_token}"}
    first = httpx.post(_webhook(relay_stack), json=body, headers=headers, timeout=60)
    again = httpx.post(_webhook(relay_stack), json=body, headers=headers, timeout=60)
    assert first.status_code == again.status_code == 200
    assert first.json() and [m["text"] for m in again.json()] == [
        m["text"] for m in first.json()]
    events = tracker_events(relay_stack.rasa_url, relay_stack.settings.rasa_token, sender)
    assert [e.get("text") for e in events if e["event"] == "user"] == [body["message"]]
    bad = dict(body, metadata={"message_id": "not an id!"})
    assert httpx.post(_webhook(relay_stack), json=bad, headers=headers,
                      timeout=60).status_code == 400


def test_with_the_action_server_down_the_customer_gets_a_fallback_and_it_is_logged(
    relay_stack: RelayStack,
) -> None:
    from crm_store import interactions

    fallback = rasa_channel_constant("FALLBACK")

    actions = relay_stack.stack.service("actions")
    actions.kill()
    try:
        sender = new_conversation_id("web")
        replies = relay_stack.say(sender, "how do I reset my password?", channel="web")
    finally:
        actions.start(relay_stack.stack.env)
        relay_stack.stack.wait([actions], timeout=600)
    assert [r["text"] for r in replies] == [fallback]

    def logged() -> list[tuple[str, str]]:
        with relay_stack.sessions() as session:
            return [(r.author, r.text) for r in interactions.list_for_conversation(
                session=session, conversation_id=sender)]

    relay_stack.wait_for(lambda: len(logged()) >= 2, what="the fallback in the CRM")
    assert logged() == [("customer", "how do I reset my password?"), ("bot", fallback)]
    assert "produced no reply" in relay_stack.stack.service("rasa").log_tail(200)
