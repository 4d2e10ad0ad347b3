"""Acceptance: a handoff round trip over Telegram, with the real Rasa stack.

The bridge runs as its own process (`python -m bot.channels.telegram`, polling) against the
local Bot API stand-in; Rasa, the action server and the API are the real ones (`relay_stack`).
The agent works through the console's HTTP interface.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from crm_store import conversations, interactions
from crm_store.models import SatisfactionRating
from knowledge.build.sources import load_faq
from relay import responses
from relay.settings import ROOT
from relay.stack import child_env
from tests.channels.fake_bot_api import FakeBotApi, running_fake_bot_api
from tests.conftest import RelayStack

pytestmark = pytest.mark.integration

TOKEN = "987654:ACCEPTANCE-token-0123456789"


def answer_of(entry_id: str) -> str:
    """The first sentence of a FAQ entry's answer."""
    entry = next(e for e in load_faq(ROOT / "knowledge" / "faq") if e.id == entry_id)
    return entry.answer.strip().split(". ")[0]


@pytest.fixture
def bot_api() -> Iterator[FakeBotApi]:
    """The local Bot API stand-in."""
    with running_fake_bot_api(TOKEN) as api:
        yield api


@pytest.fixture
def bridge(relay_stack: RelayStack, bot_api: FakeBotApi) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m bot.channels.telegram` in polling mode, wired to the stack and the fake API."""
    env = child_env(relay_stack.settings)
    env.update({"RELAY_TELEGRAM_TOKEN": TOKEN, "RELAY_TELEGRAM_BASE_URL": bot_api.url,
                "RELAY_TELEGRAM_MODE": "polling"})
    log_path = relay_stack.settings.data_dir / "logs" / "telegram-acceptance.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot.channels.telegram"], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            bot_api.wait_for(lambda: "getUpdates" in bot_api.methods() or process.poll(),
                             timeout=60)
            assert process.poll() is None, log_path.read_text()
            time.sleep(1.5)  # the delivery loop has stored its starting point
            yield process
        finally:
            process.terminate()
            process.wait(timeout=20)
    assert TOKEN not in log_path.read_text(), "the bot token reached the bridge's log"


class Chat:
    """One Telegram customer talking through the fake Bot API."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api
        self.chat_id = random.randint(10_000_000, 99_999_999)
        self.next_update = random.randint(1_000, 9_000) * 1000

    def say(self, text: str) -> int:
        """Queue a message from the customer; returns how many bot messages it had before."""
        before = len(self.api.sent(self.chat_id))
        self.next_update += 1
        self.api.queue_update({"update_id": self.next_update, "message": {
            "message_id": self.next_update, "date": int(time.time()), "text": text,
            "chat": {"id": self.chat_id, "type": "private", "first_name": "Tom"},
            "from": {"id": self.chat_id, "is_bot": False, "first_name": "Tom"}}})
        return before

    def tap(self, data: str) -> int:
        """Tap an inline button (its callback_data); returns how many bot messages it had."""
        before = len(self.api.sent(self.chat_id))
        self.next_update += 1
        self.api.queue_update({"update_id": self.next_update, "callback_query": {
            "id": f"cb-{self.next_update}", "chat_instance": "ci", "data": data,
            "from": {"id": self.chat_id, "is_bot": False, "first_name": "Tom"},
            "message": {"message_id": self.next_update, "date": int(time.time()),
                        "text": "rate", "chat": {"id": self.chat_id, "type": "private"},
                        "from": {"id": 1, "is_bot": True, "first_name": "Relay"}}}})
        return before

    def wait_reply(self, before: int, containing: str, timeout: float = 60) -> dict[str, Any]:
        """The first message to this chat after `before` that contains the text."""
        def found() -> dict[str, Any] | None:
            return next((m for m in self.api.sent(self.chat_id)[before:]
                         if containing in m["text"]), None)

        return self.api.wait_for(found, timeout=timeout)


def console_client(relay_stack: RelayStack) -> httpx.Client:
    """An HTTP client logged into the console as the demo agent."""
    client = httpx.Client(base_url=relay_stack.api_url, timeout=30)
    form = client.get("/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    response = client.post("/console/login", data={
        "email": relay_stack.settings.demo_agent_email,
        "password": relay_stack.settings.demo_agent_password, "csrf": csrf})
    assert response.status_code == 303, response.text
    return client


def csrf_of(client: httpx.Client) -> str:
    """The session's CSRF token, from the queue page."""
    page = client.get("/console/")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def status_of(relay_stack: RelayStack, conversation_id: str) -> str | None:
    """The conversation's status in the CRM (None before it exists)."""
    with relay_stack.sessions() as session:
        conversation = conversations.get(session=session, conversation_id=conversation_id)
        return conversation.status if conversation else None


def test_handoff_round_trip_over_telegram(
    relay_stack: RelayStack, bot_api: FakeBotApi, bridge: subprocess.Popen[bytes]
) -> None:
    chat = Chat(bot_api)
    conversation_id = f"tg-{chat.chat_id}"

    def status() -> str | None:
        return status_of(relay_stack, conversation_id)

    before = chat.say("How much does the Pro plan cost?")
    chat.wait_reply(before, answer_of("pro-price"))

    before = chat.say("I want to talk to a human")
    chat.wait_reply(before, "support team")
    relay_stack.wait_for(lambda: status() == "handoff", what="the chat in handoff")

    agent = console_client(relay_stack)
    csrf = csrf_of(agent)
    assert conversation_id in agent.get("/console/").text
    before = len(bot_api.sent(chat.chat_id))
    agent.post(f"/console/conversations/{conversation_id}/claim", data={"csrf": csrf})
    chat.wait_reply(before, "from the Nimbus Drive support team has joined the chat", timeout=20)
    before = len(bot_api.sent(chat.chat_id))
    agent.post(f"/console/conversations/{conversation_id}/reply",
               data={"csrf": csrf, "text": "Hello Tom, Sam from Nimbus Drive here."})
    chat.wait_reply(before, "Sam from Nimbus Drive", timeout=20)

    # While the agent has it, the customer's message reaches the CRM and the bot stays quiet.
    before = chat.say("Thanks Sam, it is about invoice 2291")

    def logged() -> bool:
        with relay_stack.sessions() as session:
            return any(r.text == "Thanks Sam, it is about invoice 2291" and r.author == "customer"
                       for r in interactions.list_for_conversation(
                           session=session, conversation_id=conversation_id))

    relay_stack.wait_for(logged, what="the customer's message in the CRM")
    time.sleep(2)
    assert bot_api.sent(chat.chat_id)[before:] == []

    before = len(bot_api.sent(chat.chat_id))
    resolved = agent.post(f"/console/conversations/{conversation_id}/resolve",
                          data={"csrf": csrf})
    assert "notice=resolved" in resolved.headers["location"]
    relay_stack.wait_for(lambda: status() == "bot", what="the chat back with the bot")
    chat.wait_reply(before, "back with the Nimbus Drive assistant", timeout=20)
    # Then asked to rate the help, with 1-5 buttons; a tap is stored (issue 12's parity).
    asked = chat.wait_reply(before, "How did our support team do?", timeout=20)
    assert len(asked["reply_markup"]["inline_keyboard"]) == 5
    chat.wait_reply(chat.tap("/rate_support5"), "Thank you for your rating", timeout=20)
    with relay_stack.sessions() as session:
        assert [r.score for r in session.scalars(select(SatisfactionRating).where(
            SatisfactionRating.conversation_id == conversation_id))] == [5]

    before = chat.say("How do I recover a deleted file?")
    chat.wait_reply(before, answer_of("restore-deleted"))
    time.sleep(1)
    assert len(bot_api.sent(chat.chat_id)) == before + 1
    agent.close()


def test_a_telegram_customer_who_backs_out_of_the_queue_is_told_on_telegram(
    relay_stack: RelayStack, bot_api: FakeBotApi, bridge: subprocess.Popen[bytes]
) -> None:
    chat = Chat(bot_api)
    conversation_id = f"tg-{chat.chat_id}"

    def status() -> str | None:
        return status_of(relay_stack, conversation_id)

    chat.wait_reply(chat.say("I want to talk to a human"), "support team")
    relay_stack.wait_for(lambda: status() == "handoff", what="the chat in handoff")
    # The notice goes through the outbox like every message on a pushing channel.
    told = chat.wait_reply(chat.say("never mind, I figured it out"),
                           "cancelled your request for a person")
    assert told["text"] == responses.text("utter_handoff_withdrawn", None)
    assert status() == "bot"
    before = chat.say("How do I recover a deleted file?")
    chat.wait_reply(before, answer_of("restore-deleted"))
    time.sleep(1)
    assert len(bot_api.sent(chat.chat_id)) == before + 1  # each said once
