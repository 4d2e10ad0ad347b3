"""Photos and documents from a Telegram chat: downloaded through the (local stand-in) Bot API
with the real python-telegram-bot code, checked like the widget's, stored for the agent; what
is not taken is explained to the customer in their language and noted for the agent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_store import attachments, support, users
from crm_store.models import Attachment, Interaction, User
from relay import responses
from relay.settings import Settings
from tests.channels.fake_bot_api import FakeBotApi
from tests.channels.fake_rasa import FakeRasa
from tests.channels.test_telegram import (
    CHAT,
    CUSTOMER,
    bot_api,
    eventually,
    logged,
    message,
    polling,
    tg_settings,
)
from tests.crm_store.test_attachments import GIF, HTML, JPEG, LIMIT, PDF, png, same_picture

__all__ = ["bot_api", "tg_settings"]


def files(sessions: sessionmaker[Session]) -> list[tuple[str, str, bytes]]:
    """(filename, content type, bytes) of every stored file."""
    with sessions() as session:
        return [(a.filename, a.content_type, a.data) for a in session.scalars(
            select(Attachment).order_by(Attachment.id))]


def photo_sizes(big: bytes) -> list[dict[str, Any]]:
    return [{"file_id": "photo-small", "file_unique_id": "s", "width": 90, "height": 90,
             "file_size": 300},
            {"file_id": "photo-big", "file_unique_id": "b", "width": 1280, "height": 960,
             "file_size": len(big)}]


async def test_a_photo_is_downloaded_stored_and_the_customer_told_a_person_can_see_it(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa,
    sessions: sessionmaker[Session],
) -> None:
    bot_api.add_file("photo-big", JPEG)
    async with polling(tg_settings):
        bot_api.queue_update(message(30, photo=photo_sizes(JPEG), caption="the error"))
        sent = await eventually(lambda: bot_api.sent(CHAT))
    assert sent[0]["text"] == responses.text("utter_file_kept", None)
    assert ("getFile", {"file_id": "photo-big"}) in bot_api.calls  # the largest size
    [(name, content_type, stored)] = files(sessions)
    assert (name, content_type) == ("photo.jpg", "image/jpeg")
    assert same_picture(stored, JPEG, tolerance=3)  # saved again, without metadata
    assert logged(sessions) == [("customer", "[file: photo.jpg] the error"),
                                ("system", sent[0]["text"])]
    assert fake_rasa.messages == []  # Rasa cannot read files


async def test_a_document_sent_to_an_agent_is_stored_and_the_bot_stays_silent(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa,
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        support.request_handoff(session=session, conversation_id=f"tg-{CHAT}",
                                actor="relay-bot", reason="asked for a person", transcript="")
    bot_api.add_file("doc-1", PDF)
    async with polling(tg_settings):
        bot_api.queue_update(message(31, document={
            "file_id": "doc-1", "file_unique_id": "d1", "file_name": "../contract.pdf",
            "mime_type": "application/pdf", "file_size": len(PDF)}))
        await eventually(lambda: files(sessions))
        await asyncio.sleep(0.5)
    assert files(sessions) == [("contract.pdf", "application/pdf", PDF)]
    assert bot_api.sent(CHAT) == []


async def test_a_disguised_file_is_refused_in_the_customers_language(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa,
    sessions: sessionmaker[Session],
) -> None:
    bot_api.add_file("doc-html", HTML)
    spanish = {**CUSTOMER, "language_code": "es"}
    async with polling(tg_settings):
        bot_api.queue_update(message(32, **{"from": spanish}, document={
            "file_id": "doc-html", "file_unique_id": "h", "file_name": "cat.png",
            "mime_type": "image/png", "file_size": len(HTML)}))
        sent = await eventually(lambda: bot_api.sent(CHAT))
    assert sent[0]["text"] == responses.text("utter_file_wrong_type", "es")
    assert files(sessions) == []
    assert logged(sessions) == [
        ("customer", f"[document: cat.png] (not kept: {attachments.UnsupportedFile()})"),
        ("system", sent[0]["text"])]


async def test_a_file_over_the_limit_is_refused_without_downloading_it(
    tg_settings: Settings, bot_api: FakeBotApi, fake_rasa: FakeRasa,
    sessions: sessionmaker[Session],
) -> None:
    bot_api.add_file("doc-big", PDF)
    async with polling(tg_settings):
        bot_api.queue_update(message(33, document={
            "file_id": "doc-big", "file_unique_id": "g", "file_name": "scan.pdf",
            "file_size": 50 * 1024 * 1024}))
        sent = await eventually(lambda: bot_api.sent(CHAT))
    assert sent[0]["text"] == responses.text("utter_file_too_large", None, max_size="10 MB")
    assert "getFile" not in bot_api.methods() and "download" not in bot_api.methods()
    assert files(sessions) == []


def agent_file(sessions: sessionmaker[Session], data: bytes, filename: str,
               caption: str = "") -> None:
    """An agent sends the Telegram customer a file from the console (the handoff claimed)."""
    with sessions.begin() as session:
        support.request_handoff(session=session, conversation_id=f"tg-{CHAT}",
                                actor="relay-bot", reason="asked for a person", transcript="")
        agent = users.create_user(session=session, email="sam@example.com", name="Sam Agent",
                             password="a long enough password", role="agent")
        outcome = support.send_file(session=session, conversation_id=f"tg-{CHAT}",
                                    agent_id=agent.id, actor=f"agent:{agent.id}", data=data,
                                    filename=filename, max_bytes=LIMIT, caption=caption)
    assert outcome == support.Outcome.FILE_SENT


async def test_an_agents_photo_and_pdf_reach_the_chat_as_sent_with_their_captions(
    tg_settings: Settings, bot_api: FakeBotApi, sessions: sessionmaker[Session],
) -> None:
    image = png()
    agent_file(sessions, image, "screenshot.png", caption="This is where the setting is")
    async with polling(tg_settings):
        await eventually(lambda: bot_api.sent_files(CHAT))
        with sessions.begin() as session:
            agent = session.scalars(select(User).where(User.email == "sam@example.com")).one()
            support.send_file(session=session, conversation_id=f"tg-{CHAT}", agent_id=agent.id,
                              actor="agent", data=PDF, filename="../Invoice 42.pdf",
                              max_bytes=LIMIT, caption="x" * 1500)  # over a caption's limit
        await eventually(lambda: len(bot_api.sent_files(CHAT)) == 2
                         and len(bot_api.sent(CHAT)) == 2)
    (first, photo), (second, document) = bot_api.sent_files(CHAT)
    assert (first, photo["photo"]["filename"]) == ("sendPhoto", "screenshot.png")
    assert same_picture(photo["photo"]["data"], image)
    assert photo["caption"] == "This is where the setting is"
    assert (second, document["document"]["filename"], document["document"]["data"]) == (
        "sendDocument", "Invoice 42.pdf", PDF)
    assert "caption" not in document  # 1500 characters: Telegram takes 1024 with a file
    joined, caption = (m["text"] for m in bot_api.sent(CHAT))
    assert "joined the chat" in joined
    assert caption == "x" * 1500  # so it follows the file
    assert [m for m in bot_api.methods() if m.startswith("send")] == [
        "sendMessage", "sendPhoto", "sendDocument", "sendMessage"]  # in the order written
    with sessions() as session:  # both delivered, so never sent again
        assert all(row.delivered_at is not None for row in session.scalars(
            select(Interaction).where(Interaction.author == "agent")))


async def test_an_agents_file_to_a_chat_that_blocked_the_bot_fails_visibly(
    tg_settings: Settings, bot_api: FakeBotApi, sessions: sessionmaker[Session],
) -> None:
    bot_api.blocked.add(CHAT)
    agent_file(sessions, GIF, "wave.gif")
    async with polling(tg_settings):
        await eventually(lambda: any(m == "sendDocument" for m in bot_api.methods()))
        await asyncio.sleep(0.5)
    with sessions() as session:
        row = session.scalars(select(Interaction).where(Interaction.author == "agent")).one()
    assert row.failed_at is not None and "blocked" in (row.delivery_error or "")
