"""Impersonation on Telegram: the real bridge code against a local Bot API, with the real Rasa,
action server and CRM behind it (issue 15, #1)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from crm_store import customers, verification
from crm_store.models import Customer as CustomerRow
from tests.channels.fake_bot_api import FakeBotApi, running_fake_bot_api
from tests.channels.test_telegram import eventually, polling
from tests.conftest import RelayStack
from tests.integration.test_verification import GRACE, grace_record, leaks

pytestmark = pytest.mark.integration
CHAT = 7001


def update(update_id: int, text: str, chat: int = CHAT) -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": text,
        "chat": {"id": chat, "type": "private", "first_name": "Mallory"},
        "from": {"id": chat, "is_bot": False, "first_name": "Mallory"}}}


class Chat:
    """One Telegram chat with the bot: send a message, wait for the bot's replies."""

    def __init__(self, api: FakeBotApi, chat: int) -> None:
        self.api, self.chat, self.updates = api, chat, chat * 1000

    async def say(self, text: str) -> list[str]:
        """Send text as the customer; the bot's replies to it."""
        before = len(self.api.sent(self.chat))
        self.updates += 1
        self.api.queue_update(update(self.updates, text, chat=self.chat))
        await eventually(lambda: len(self.api.sent(self.chat)) > before, timeout=90)
        await asyncio.sleep(1.0)  # the turn's other replies
        return [m["text"] for m in self.api.sent(self.chat)[before:]]


async def test_typing_graces_email_on_telegram_shows_nothing(relay_stack: RelayStack) -> None:
    """Issue 15, #1 on Telegram: the case list, the address change and the phone change, with
    her email and wrong codes."""
    token = "424242:TELEGRAM-VERIFY-TEST"
    before = grace_record(relay_stack)
    with running_fake_bot_api(token) as api:
        settings = relay_stack.settings.model_copy(update={
            "telegram_token": token, "telegram_base_url": api.url})
        async with polling(settings, sessions=relay_stack.sessions):
            chat = Chat(api, CHAT)
            for text in ["what is the status of my support cases?", GRACE, "123456",
                         "I want to change my address", GRACE, "654 321",
                         "I need to change my phone number", GRACE, "+44 20 7946 0958", "yes"]:
                await chat.say(text)
        texts = [m["text"] for m in api.sent(CHAT)]
    assert leaks(texts) == [], texts
    assert any("if grace@example.com has an account" in t.lower() for t in texts)
    assert grace_record(relay_stack) == before
    with relay_stack.sessions() as session:
        assert verification.verified_customer_id(session=session,
                                                 conversation_id=f"tg-{CHAT}") is None
        grace = customers.get_by_email(session=session, email=GRACE)
        assert grace is not None
        assert all(i.external_id != str(CHAT) for i in grace.identities)


async def test_the_owner_verifies_on_telegram_and_the_chat_stays_verified(
    relay_stack: RelayStack,
) -> None:
    """The owner types the mailed code in Telegram, changes her phone number; the chat is then
    a verified identity of hers, and her cases are shown without asking again."""
    token = "434343:TELEGRAM-OWNER-TEST"
    chat_id = 7002
    email = f"tg-owner-{uuid.uuid4().hex[:8]}@example.com"
    with relay_stack.sessions.begin() as session:
        owner = customers.create(session=session, actor="test", email=email, name="Tess Owner",
                                 type="customer")
    with running_fake_bot_api(token) as api:
        settings = relay_stack.settings.model_copy(update={
            "telegram_token": token, "telegram_base_url": api.url})
        async with polling(settings, sessions=relay_stack.sessions):
            chat = Chat(api, chat_id)
            await chat.say("I need to change my phone number")
            sent = relay_stack.mails_to(email)
            await chat.say(email)
            code = await asyncio.to_thread(relay_stack.code_for, email, after=sent)
            assert any("Thanks, Tess" in t for t in await chat.say(code))
            await chat.say("+44 20 7946 0958")
            assert any("+442079460958" in t for t in await chat.say("yes"))
            later = " ".join(await chat.say("what is the status of my support cases?"))
            assert "no support cases" in later and "email" not in later.lower()
    with relay_stack.sessions() as session:
        row = session.get(CustomerRow, owner.id)
        assert row is not None and row.phone == "+442079460958"
        assert verification.verified_customer_id(
            session=session, conversation_id=f"tg-{chat_id}") == owner.id
        assert any(i.channel == "telegram" and i.external_id == str(chat_id)
                   and i.verified_at is not None for i in row.identities)
