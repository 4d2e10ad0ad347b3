"""Impersonation on Telegram: the real bridge code against a local Bot API, with the real Rasa,
action server and CRM behind it (issue 15, #1)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from crm_store import customers, verification
from tests.channels.fake_bot_api import running_fake_bot_api
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


async def test_typing_graces_email_on_telegram_shows_nothing(relay_stack: RelayStack) -> None:
    token = "424242:TELEGRAM-VERIFY-TEST"
    before = grace_record(relay_stack)
    with running_fake_bot_api(token) as api:
        settings = relay_stack.settings.model_copy(update={
            "telegram_token": token, "telegram_base_url": api.url})
        async with polling(settings, sessions=relay_stack.sessions, deliver=False):
            sent = 0
            for n, text in enumerate(["what is the status of my support cases?", GRACE,
                                      "123456", "I want to change my address", GRACE,
                                      "654 321"], start=1):
                api.queue_update(update(n, text))
                await eventually(lambda before=sent: len(api.sent(CHAT)) > before, timeout=90)
                await asyncio.sleep(1.0)  # the turn's other replies
                sent = len(api.sent(CHAT))
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
