"""The Telegram bridge, driving the real python-telegram-bot code against a local Bot API.

Rasa is the fake (tests/channels/fake_rasa.py), which writes its tracker events to the test
database like the real one, so the bot's replies reach the chat the real way: the event path
logs them, the outbox's worker sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from telegram.ext import Application

from bot.channels.telegram import build_application, webhook_app
from bot.channels.telegram.polling import Poller, store_updates
from crm_store import conversations, interactions
from crm_store.models import Interaction, SatisfactionRating
from relay import responses
from relay.settings import ROOT, Settings
from relay.stack import child_env
from tests.channels.fake_bot_api import BOT_USER, FakeBotApi, running_fake_bot_api
from tests.channels.fake_rasa import FakeRasa
from tests.channels.test_web_rating import handed_off_and_back

CHAT = 4242
CUSTOMER = {"id": CHAT, "is_bot": False, "first_name": "Ana"}


@pytest.fixture
def bot_api(settings: Settings) -> Iterator[FakeBotApi]:
    """The local Bot API stand-in."""
    with running_fake_bot_api(settings.telegram_token) as api:
        yield api


@pytest.fixture
def tg_settings(settings: Settings, bot_api: FakeBotApi,
                sessions: sessionmaker[Session]) -> Settings:
    """Settings that point the bridge at the fake Bot API (and a migrated database)."""
    return settings.model_copy(update={"telegram_base_url": bot_api.url})


@asynccontextmanager
async def polling(settings: Settings, **kwargs: Any) -> AsyncIterator[Application]:
    """The bridge running in polling mode against the fake Bot API."""
    application = build_application(settings, **kwargs)
    async with application:
        await application.start()
        poller = Poller(application, application.bot_data["relay"],
                        application.bot_data["relay-inbox"], timeout=1)
        task = asyncio.create_task(poller.run())
        try:
            yield application
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await application.stop()


async def eventually(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Await until condition() is truthy (without blocking the event loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("timed out waiting for the bridge")


def message(update_id: int, **content: Any) -> dict[str, Any]:
    """A Bot API update carrying a private message from the customer."""
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()),
        "chat": {"id": CHAT, "type": "private", "first_name": "Ana"}, "from": CUSTOMER,
        **content}}


def logged(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    """(author, text) of the CRM log of the test chat."""
    with sessions() as session:
        return [(r.author, r.text) for r in interactions.list_for_conversation(
            session=session, conversation_id=f"tg-{CHAT}")]


async def test_text_goes_to_rasa_and_the_reply_comes_back_with_buttons(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa
) -> None:
    async with polling(tg_settings):
        bot_api.queue_update(message(1, text="hello"))
        sent = await eventually(lambda: bot_api.sent(CHAT))
    assert fake_rasa.messages[0]["metadata"].pop("message_id") == "1"  # the update id
    received_at = fake_rasa.messages[0]["metadata"].pop("received_at")  # Telegram's date
    assert fake_rasa.messages == [{"sender": f"tg-{CHAT}", "message": "hello",
                                   "metadata": {"channel": "telegram"}}]
    assert abs(received_at - time.time()) < 60 and received_at == int(received_at)
    assert sent[0]["text"] == "Hi! How can I help?"
    assert sent[0]["reply_markup"] == {"inline_keyboard": [
        [{"text": "Talk to a person", "callback_data": "/ask_human"}],
        [{"text": "Pricing", "callback_data": "/ask_pricing"}]]}
    assert "getMe" in bot_api.methods()


async def test_button_click_sends_the_payload_and_answers_the_query(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa
) -> None:
    query = {"update_id": 7, "callback_query": {
        "id": "cb-1", "from": CUSTOMER, "chat_instance": "ci-1", "data": "/ask_pricing",
        "message": {"message_id": 55, "date": int(time.time()), "from": BOT_USER,
                    "chat": {"id": CHAT, "type": "private"}, "text": "Hi! How can I help?"}}}
    async with polling(tg_settings):
        bot_api.queue_update(query)
        sent = await eventually(lambda: bot_api.sent(CHAT))
    assert [m["message"] for m in fake_rasa.messages] == ["/ask_pricing"]
    assert sent[0]["text"] == "Plus costs 4.99 a month."
    assert "answerCallbackQuery" in bot_api.methods()
    assert "editMessageReplyMarkup" in bot_api.methods()


async def test_repeated_update_id_is_processed_once(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa
) -> None:
    async with polling(tg_settings):
        bot_api.queue_update(message(10, text="first"))
        bot_api.queue_update(message(10, text="first"))
        bot_api.queue_update(message(11, text="second"))
        await eventually(lambda: len(bot_api.sent(CHAT)) >= 2)
        await asyncio.sleep(0.3)
    assert [m["message"] for m in fake_rasa.messages] == ["first", "second"]
    assert [m["text"] for m in bot_api.sent(CHAT)] == ["You said: first", "You said: second"]


@pytest.mark.parametrize(("content", "note", "answer_has"), [
    ({"sticker": {"file_id": "s1", "file_unique_id": "u1", "type": "regular", "width": 512,
                  "height": 512, "is_animated": False, "is_video": False, "emoji": "👍"}},
     "[sticker 👍]", "sticker"),
    ({"voice": {"file_id": "v1", "file_unique_id": "u3", "duration": 3}},
     "[voice message]", "voice"),
    # A photo or document Telegram will not hand over (photos and documents it does are kept
    # for the agent: test_telegram_files.py).
    ({"photo": [{"file_id": "gone", "file_unique_id": "u2", "width": 90, "height": 90}],
      "caption": "my screen"}, "[photo] my screen (could not be downloaded)", "photo"),
])
async def test_non_text_gets_a_polite_answer_and_a_note_in_the_crm(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa,
    sessions: sessionmaker[Session], content: dict[str, Any], note: str, answer_has: str
) -> None:
    async with polling(tg_settings):
        bot_api.queue_update(message(20, **content))
        sent = await eventually(lambda: bot_api.sent(CHAT))
    assert answer_has in sent[0]["text"]
    assert fake_rasa.messages == []
    assert logged(sessions) == [("customer", note), ("system", sent[0]["text"])]


@pytest.mark.parametrize(("content", "note", "answer_has"), [
    ({"location": {"latitude": 51.523767, "longitude": -0.158555}},
     "[location] 51.523767, -0.158555", "location"),
    ({"venue": {"location": {"latitude": 51.523767, "longitude": -0.158555},
                "title": "Sherlock Holmes Museum", "address": "221b Baker St, London NW1 6XE"},
      "location": {"latitude": 51.523767, "longitude": -0.158555}},
     "[place] Sherlock Holmes Museum, 221b Baker St, London NW1 6XE (51.523767, -0.158555)",
     "location"),
    ({"contact": {"phone_number": "+442079460958", "first_name": "Ana", "last_name": "Silva"}},
     "[contact] Ana Silva, +442079460958", "contact"),
])
async def test_a_shared_place_or_contact_is_noted_so_an_agent_can_read_it(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa,
    sessions: sessionmaker[Session], content: dict[str, Any], note: str, answer_has: str
) -> None:
    """Not "[unsupported message]": the agent sees the place or the phone number (issue 15,
    #14)."""
    async with polling(tg_settings):
        bot_api.queue_update(message(21, **content))
        sent = await eventually(lambda: bot_api.sent(CHAT))
    assert answer_has in sent[0]["text"]
    assert logged(sessions) == [("customer", note), ("system", sent[0]["text"])]


async def test_a_4096_character_message_reaches_rasa_whole_and_long_replies_are_split(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa
) -> None:
    """Telegram allows 4,096 characters: none are cut on the way in, and a reply longer than
    that arrives in parts instead of cut (issue 15, #14)."""
    text = ("word " * 900)[:4095] + "!"
    assert len(text) == 4096
    async with polling(tg_settings):
        bot_api.queue_update(message(22, text=text))
        await eventually(lambda: len(bot_api.sent(CHAT)) >= 2)
    assert fake_rasa.messages[0]["message"] == text
    parts = [m["text"] for m in bot_api.sent(CHAT)]
    assert all(len(p) <= 4096 for p in parts)
    assert " ".join(parts).split() == f"You said: {text}".split()


async def test_edited_message_is_answered_politely(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa,
    sessions: sessionmaker[Session]
) -> None:
    edited = {"update_id": 30, "edited_message": {
        "message_id": 3, "date": int(time.time()), "edit_date": int(time.time()),
        "chat": {"id": CHAT, "type": "private"}, "from": CUSTOMER, "text": "corrected"}}
    async with polling(tg_settings):
        bot_api.queue_update(edited)
        sent = await eventually(lambda: bot_api.sent(CHAT))
    assert "edited" in sent[0]["text"]
    assert logged(sessions)[0] == ("customer", "[edited] corrected")
    assert fake_rasa.messages == []


async def test_while_rasa_starts_the_message_waits_and_is_answered_when_it_is_back(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa,
    sessions: sessionmaker[Session]
) -> None:
    fake_rasa.down = True
    async with polling(tg_settings):
        bot_api.queue_update(message(40, text="is anyone there?"))
        told = await eventually(lambda: bot_api.sent(CHAT))
        assert "restarting" in told[0]["text"]
        await asyncio.sleep(1.5)
        assert logged(sessions) == [("system", told[0]["text"])]  # nothing for a person
        fake_rasa.down = False
        await eventually(lambda: len(bot_api.sent(CHAT)) == 2)
        await asyncio.sleep(0.5)
    assert [m["message"] for m in fake_rasa.messages] == ["is anyone there?"]
    assert [m["text"] for m in bot_api.sent(CHAT)][1:] == ["You said: is anyone there?"]
    with sessions() as session:
        conversation = conversations.get_or_raise(session=session, conversation_id=f"tg-{CHAT}")
        assert conversation.status == "bot"


async def test_the_restarting_notice_is_in_the_language_of_the_customers_app(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa,
    sessions: sessionmaker[Session]
) -> None:
    fake_rasa.down = True
    async with polling(tg_settings):
        bot_api.queue_update(message(42, text="¿hay alguien?",
                                     **{"from": {**CUSTOMER, "language_code": "es-ES"}}))
        told = await eventually(lambda: bot_api.sent(CHAT))
    assert told[0]["text"] == responses.text("utter_one_moment", "es")


async def test_a_message_that_waited_too_long_goes_to_a_person(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa,
    sessions: sessionmaker[Session]
) -> None:
    fake_rasa.down = True
    impatient = tg_settings.model_copy(update={"rasa_handoff_after_seconds": 1.0})
    async with polling(impatient):
        bot_api.queue_update(message(41, text="hello? anyone?"))
        await eventually(lambda: any("saved" in m["text"] for m in bot_api.sent(CHAT)))
    assert ("customer", "hello? anyone?") in logged(sessions)
    with sessions() as session:
        conversation = conversations.get_or_raise(session=session, conversation_id=f"tg-{CHAT}")
        assert conversation.status == "handoff"
    assert fake_rasa.messages == []


async def test_agent_replies_are_delivered_once_across_restarts(
    tg_settings: Settings, bot_api: FakeBotApi, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:  # written while the bridge was down: sent when it starts
        interactions.record(session=session, conversation_id=f"tg-{CHAT}", direction="outbound",
                            author="agent", text="written while you were away")
    async with polling(tg_settings):
        await eventually(lambda: bot_api.sent(CHAT))
        with sessions.begin() as session:
            interactions.add_note(session=session, conversation_id=f"tg-{CHAT}",
                                  text="internal only")
            interactions.record(session=session, conversation_id=f"web-{'a' * 32}",
                                direction="outbound", author="agent", text="for the widget")
            interactions.record(session=session, conversation_id=f"tg-{CHAT}",
                                direction="outbound", author="agent", text="Hi Ana, Sam here")
        await eventually(lambda: len(bot_api.sent(CHAT)) == 2)
        await asyncio.sleep(1.5)
    async with polling(tg_settings):
        await asyncio.sleep(1.5)
    assert [m["text"] for m in bot_api.sent()] == ["written while you were away",
                                                   "Hi Ana, Sam here"]
    assert not (tg_settings.data_dir / "telegram-delivery.json").exists()


async def test_after_a_quiet_week_a_lower_update_id_is_still_answered(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa
) -> None:
    """Telegram picks the next update id at random after a week without updates. An offset
    from the highest id the inbox holds would confirm a lower one unseen."""
    async with polling(tg_settings):
        bot_api.queue_update(message(900_000, text="before the quiet week"))
        await eventually(lambda: bot_api.sent(CHAT))
        await asyncio.sleep(1.2)  # the next poll acknowledged it
    bot_api.queue_update(message(17, text="after the quiet week"))
    async with polling(tg_settings):
        await eventually(lambda: len(bot_api.sent(CHAT)) == 2)
    assert [m["message"] for m in fake_rasa.messages] == ["before the quiet week",
                                                          "after the quiet week"]


async def test_a_batch_stored_but_not_acknowledged_is_answered_once_after_a_restart(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa,
    sessions: sessionmaker[Session]
) -> None:
    """A bridge that stopped after storing a batch, before its next getUpdates confirmed it,
    is served the batch again on start: the inbox keeps the first copy."""
    store_updates(sessions, [message(30, text="stored once")])
    bot_api.queue_update(message(30, text="stored once"))  # Telegram still has it
    bot_api.queue_update(message(31, text="new"))
    async with polling(tg_settings):
        await eventually(lambda: len(bot_api.sent(CHAT)) >= 2)
        await asyncio.sleep(1.0)
    assert [m["message"] for m in fake_rasa.messages] == ["stored once", "new"]
    assert [m["text"] for m in bot_api.sent(CHAT)] == ["You said: stored once", "You said: new"]


async def test_notices_reach_the_chat_but_replies_given_in_the_turn_do_not(
    tg_settings: Settings, bot_api: FakeBotApi, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        interactions.record(session=session, conversation_id=f"tg-{CHAT}", direction="outbound",
                            author="system", text="Thanks for the photo!", delivered=True)
        interactions.record(session=session, conversation_id=f"tg-{CHAT}", direction="outbound",
                            author="system", text="Sam has joined the chat.")
    async with polling(tg_settings):
        await eventually(lambda: bot_api.sent(CHAT))
        await asyncio.sleep(1.5)
    assert [m["text"] for m in bot_api.sent()] == ["Sam has joined the chat."]


async def test_a_lower_id_committed_after_a_higher_one_is_delivered_once(
    tg_settings: Settings, bot_api: FakeBotApi, sessions: sessionmaker[Session]
) -> None:
    """On PostgreSQL ids are taken before commit; an "id > last delivered" cursor skipped this.

    SQLite serialises writers, so the late commit is reproduced with explicit ids.
    """
    def reply(interaction_id: int, text: str) -> None:
        with sessions.begin() as session:
            session.add(Interaction(id=interaction_id, conversation_id=f"tg-{CHAT}",
                                    channel="telegram", direction="outbound", author="agent",
                                    text=text))

    with sessions.begin() as session:
        conversations.get_or_create(session=session, conversation_id=f"tg-{CHAT}")
    async with polling(tg_settings):
        reply(1000, "committed first, higher id")
        await eventually(lambda: bot_api.sent(CHAT))
        await asyncio.sleep(1.2)  # at least one more poll after the higher id went out
        reply(500, "committed second, lower id")
        await eventually(lambda: len(bot_api.sent(CHAT)) == 2)
        await asyncio.sleep(1.5)
    async with polling(tg_settings):
        await asyncio.sleep(1.5)
    assert [m["text"] for m in bot_api.sent()] == ["committed first, higher id",
                                                   "committed second, lower id"]


async def test_a_reply_claimed_by_another_bridge_is_not_sent_again(
    tg_settings: Settings, bot_api: FakeBotApi, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        row = interactions.record(session=session, conversation_id=f"tg-{CHAT}",
                                  direction="outbound", author="agent", text="only once")
        interactions.mark_delivered(session=session, interaction_id=row.id)
    async with polling(tg_settings):
        await asyncio.sleep(1.5)
    assert bot_api.sent() == []


async def test_webhook_refuses_requests_without_the_secret(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa
) -> None:
    application = build_application(tg_settings)
    app = webhook_app(application, tg_settings.telegram_webhook_secret, "/telegram/webhook")
    transport = httpx.ASGITransport(app=app)
    async with application, httpx.AsyncClient(transport=transport, base_url="http://tg") as client:
        await application.start()
        try:
            missing = await client.post("/telegram/webhook", json=message(50, text="hello"))
            wrong = await client.post("/telegram/webhook", json=message(51, text="hello"),
                                      headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
            good = await client.post("/telegram/webhook", json=message(52, text="hello"),
                                     headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret"})
            again = await client.post("/telegram/webhook", json=message(52, text="hello"),
                                      headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret"})
            await eventually(lambda: bot_api.sent(CHAT))
            await asyncio.sleep(0.3)
        finally:
            await application.stop()
    assert (missing.status_code, wrong.status_code, good.status_code, again.status_code) == (
        403, 403, 200, 200)
    assert [m["message"] for m in fake_rasa.messages] == ["hello"]


@pytest.mark.parametrize("body", [b"[]", b"null", b"5", b'"x"', b"{", b'{"update_id": "x"}'])
async def test_webhook_answers_400_to_a_body_that_is_not_an_update(
    tg_settings: Settings, bot_api: FakeBotApi, body: bytes
) -> None:
    """The right secret with a body that is not an update object is a 400 (issue 15, #7)."""
    application = build_application(tg_settings, deliver=False)
    app = webhook_app(application, tg_settings.telegram_webhook_secret, "/telegram/webhook")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://tg") as client:
        response = await client.post("/telegram/webhook", content=body, headers={
            "X-Telegram-Bot-Api-Secret-Token": "hook-secret",
            "Content-Type": "application/json"})
    assert response.status_code == 400, response.text


async def test_token_never_reaches_the_logs(
    tg_settings: Settings, bot_api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with polling(tg_settings):
        bot_api.queue_update(message(60, text="hello"))
        await eventually(lambda: bot_api.sent(CHAT))
    assert caplog.records, "nothing was logged at all"
    assert tg_settings.telegram_token not in caplog.text
    assert tg_settings.telegram_token.split(":")[1] not in caplog.text


async def test_start_command_greets_through_rasa(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa
) -> None:
    async with polling(tg_settings):
        bot_api.queue_update(message(70, text="/start",
                                     entities=[{"type": "bot_command", "offset": 0, "length": 6}]))
        await eventually(lambda: bot_api.sent(CHAT))
    assert [m["message"] for m in fake_rasa.messages] == ["/greet"]


async def test_a_long_button_payload_is_found_again_from_its_message(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa,
    sessions: sessionmaker[Session]
) -> None:
    long_payload = '/choose_faq{"faq_entry_id": "ransomware-rewind-and-version-history"}'
    with sessions.begin() as session:
        row = interactions.record(session=session, conversation_id=f"tg-{CHAT}",
                                  direction="outbound", author="agent", text="Which one?",
                                  buttons=[{"title": "Rewind", "payload": long_payload},
                                           {"title": "Person", "payload": "/ask_human"}])
    async with polling(tg_settings):
        sent = await eventually(lambda: bot_api.sent(CHAT))
        rows = sent[0]["reply_markup"]["inline_keyboard"]
        key = rows[0][0]["callback_data"]
        assert len(key.encode()) <= 64 and key == f"relay:{row.id}:0"
        assert rows[1][0]["callback_data"] == "/ask_human"
        click = {"update_id": 90, "callback_query": {
            "id": "cb-9", "from": CUSTOMER, "chat_instance": "ci-9", "data": key,
            "message": {"message_id": 56, "date": int(time.time()), "from": BOT_USER,
                        "chat": {"id": CHAT, "type": "private"}, "text": "Which one?"}}}
        bot_api.queue_update(click)
        await eventually(lambda: fake_rasa.messages)
    assert fake_rasa.messages[0]["message"] == long_payload


def _click(update_id: int, data: str) -> dict[str, Any]:
    return {"update_id": update_id, "callback_query": {
        "id": f"cb-{update_id}", "from": CUSTOMER, "chat_instance": "ci", "data": data,
        "message": {"message_id": update_id, "date": int(time.time()), "from": BOT_USER,
                    "chat": {"id": CHAT, "type": "private"}, "text": "How did we do?"}}}


async def test_after_a_resolved_handoff_the_customer_rates_it_with_buttons(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa,
    sessions: sessionmaker[Session]
) -> None:
    """Telegram parity of the widget's rating (issue 12): 1-5 buttons after the agent handed
    the chat back; a tap is stored for the handoff's case, thanked for, never sent to Rasa."""
    cid = handed_off_and_back(sessions, conversation_id=f"tg-{CHAT}")
    async with polling(tg_settings):
        asked = await eventually(lambda: [m for m in bot_api.sent(CHAT) if m.get("reply_markup")])
        assert asked[0]["text"] == responses.text("utter_rate_support", "en")
        keys = [row[0]["callback_data"] for row in asked[0]["reply_markup"]["inline_keyboard"]]
        assert keys == [f"/rate_support{n}" for n in range(1, 6)]
        bot_api.queue_update(_click(95, "/rate_support4"))
        thanks = responses.text("utter_rating_thanks", "en")
        await eventually(lambda: any(m["text"] == thanks for m in bot_api.sent(CHAT)))
        bot_api.queue_update(_click(96, "/rate_support2"))  # changed their mind: replaces it
        await eventually(lambda: [m["text"] for m in bot_api.sent(CHAT)].count(thanks) == 2)
    assert fake_rasa.messages == []
    with sessions() as session:
        stored = session.scalars(select(SatisfactionRating)).all()
        assert [(r.conversation_id, r.score) for r in stored] == [(cid, 2)]


async def test_a_score_tapped_without_a_resolved_handoff_is_not_stored(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa,
    sessions: sessionmaker[Session]
) -> None:
    async with polling(tg_settings):
        bot_api.queue_update(_click(97, "/rate_support5"))
        expired = responses.text("utter_button_expired", "en")
        await eventually(lambda: any(m["text"] == expired for m in bot_api.sent(CHAT)))
    assert fake_rasa.messages == []
    with sessions() as session:
        assert session.scalars(select(SatisfactionRating)).all() == []


async def test_webhook_mode_serves_and_registers_the_webhook(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa
) -> None:
    from bot.channels.telegram import run_webhook
    from tests.conftest import free_port

    settings = tg_settings.model_copy(update={
        "telegram_webhook_url": "https://relay.example/telegram/webhook",
        "telegram_webhook_listen": "127.0.0.1", "telegram_webhook_port": free_port()})
    application = build_application(settings)
    task = asyncio.create_task(run_webhook(application, settings))
    base = f"http://127.0.0.1:{settings.telegram_webhook_port}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        async def up() -> bool:
            try:
                return (await client.get("/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        deadline = time.monotonic() + 15
        while not await up():
            assert time.monotonic() < deadline and not task.done(), "webhook server did not start"
            await asyncio.sleep(0.1)
        refused = await client.post(settings.telegram_webhook_path, json=message(80, text="hello"))
        accepted = await client.post(settings.telegram_webhook_path, json=message(81, text="hello"),
                                     headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret"})
        await eventually(lambda: bot_api.sent(CHAT))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (refused.status_code, accepted.status_code) == (403, 200)
    webhook = next(p for m, p in bot_api.calls if m == "setWebhook")
    assert webhook["url"] == settings.telegram_webhook_url
    assert webhook["secret_token"] == "hook-secret"


@pytest.mark.parametrize("where", ["revoked token", "wrong base URL"])
def test_the_bridge_exits_in_one_line_without_the_token_in_its_output(
    settings: Settings, where: str
) -> None:
    """A revoked or mistyped token, or a wrong base URL: the bridge process stops, and nothing
    it printed — tracebacks included — holds the token (issue 15, #10)."""
    with running_fake_bot_api("999999:SOME-OTHER-BOT") as api:
        base = api.url if where == "revoked token" else "http://127.0.0.1:9"
        env = {**os.environ, **child_env(settings), "RELAY_TELEGRAM_BASE_URL": base,
               "RELAY_RASA_PORT": "9"}
        result = subprocess.run([sys.executable, "-m", "bot.channels.telegram"], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert output.strip().splitlines()[-1].startswith("telegram bridge: ")
    assert settings.telegram_token not in output
    assert settings.telegram_token.split(":")[1] not in output
