"""The shared delivery worker, driven through a channel that exists only in this test.

"Pigeon" is what adding a channel takes: an entry in the registry (here patched in) and a
Sender. Nothing in the CRM or the worker knows its name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.delivery import DeliveryWorker, Undeliverable
from crm_store import interactions
from crm_store.models import Interaction
from relay import channels
from relay.channels import Channel, Delivery

PIGEON = Channel("pigeon", "pg-", personal=True, delivery=Delivery.PUSH,
                 retry_delays=(0.01, 0.02, 0.04))


@pytest.fixture(autouse=True)
def pigeon_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The registry with the pigeon channel added."""
    monkeypatch.setattr(channels, "REGISTRY", (*channels.REGISTRY, PIGEON))
    yield


class Loft:
    """The pigeon channel's Sender: records what it sent; fails as told, once per message."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail: dict[str, Exception] = {}  # text -> error raised the first time it is sent

    async def send(self, *, conversation_id: str, text: str) -> None:
        if text in self.fail:
            raise self.fail.pop(text)
        self.sent.append((conversation_id, text))


def reply(sessions: sessionmaker[Session], conversation_id: str, text: str) -> int:
    with sessions.begin() as session:
        return interactions.record(session=session, conversation_id=conversation_id,
                                   direction="outbound", author="agent", text=text).id


def delivered(sessions: sessionmaker[Session]) -> set[int]:
    with sessions() as session:
        return set(session.scalars(
            select(Interaction.id).where(Interaction.delivered_at.is_not(None))))


def test_a_new_channel_is_known_by_its_prefix_without_naming_it_anywhere(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        message = interactions.record(session=session, conversation_id="pg-42",
                                      direction="inbound", author="customer", text="coo")
        assert message.channel == "pigeon"
    assert channels.of_conversation("pg-42").external_id("pg-42") == "42"


async def test_only_the_channels_agent_replies_are_sent_in_order_and_marked(
    sessions: sessionmaker[Session],
) -> None:
    first = reply(sessions, "pg-1", "first")
    with sessions.begin() as session:
        interactions.add_note(session=session, conversation_id="pg-1", text="internal")
        interactions.record(session=session, conversation_id="pg-1", direction="outbound",
                            author="bot", text="a bot line")
    other = reply(sessions, "tg-1", "for telegram")
    second = reply(sessions, "pg-2", "second")
    loft = Loft()
    worker = DeliveryWorker(channel=PIGEON, sessions=sessions, sender=loft)
    assert await worker.deliver_once() == 2
    assert await worker.deliver_once() == 0
    assert loft.sent == [("pg-1", "first"), ("pg-2", "second")]
    assert delivered(sessions) == {first, second} and other not in delivered(sessions)


async def test_a_transient_failure_holds_back_the_later_messages_until_a_retry(
    sessions: sessionmaker[Session],
) -> None:
    first, second = reply(sessions, "pg-1", "first"), reply(sessions, "pg-1", "second")
    loft = Loft()
    loft.fail["first"] = ConnectionError("network down")
    worker = DeliveryWorker(channel=PIGEON, sessions=sessions, sender=loft)
    with pytest.raises(ConnectionError):
        await worker.deliver_once()
    assert loft.sent == [] and delivered(sessions) == set()
    assert await worker.deliver_once() == 2
    assert loft.sent == [("pg-1", "first"), ("pg-1", "second")]
    assert delivered(sessions) == {first, second}


async def test_an_undeliverable_message_is_logged_and_not_retried(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture,
) -> None:
    blocked, fine = reply(sessions, "pg-1", "to a blocked chat"), reply(sessions, "pg-2", "fine")
    loft = Loft()
    loft.fail["to a blocked chat"] = Undeliverable("bot was blocked by the user")
    worker = DeliveryWorker(channel=PIGEON, sessions=sessions, sender=loft)
    assert await worker.deliver_once() == 2
    assert await worker.deliver_once() == 0
    assert loft.sent == [("pg-2", "fine")] and delivered(sessions) == {blocked, fine}
    assert "not deliverable: bot was blocked" in caplog.text


async def test_the_worker_backs_off_by_the_channels_delays_and_recovers(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
) -> None:
    reply(sessions, "pg-1", "hello")
    loft = Loft()
    failing = DeliveryWorker(channel=PIGEON, sessions=sessions, sender=loft, poll_seconds=0.005)
    rounds = 0
    original = failing.deliver_once

    async def flaky() -> int:
        nonlocal rounds
        rounds += 1
        if rounds <= 4:
            raise ConnectionError(f"round {rounds}")
        return await original()

    monkeypatch.setattr(failing, "deliver_once", flaky)
    waits: list[float] = []
    sleep = asyncio.sleep

    async def recorded(delay: float) -> None:
        waits.append(delay)
        await sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recorded)
    task = asyncio.create_task(failing.run())
    while not loft.sent:
        await sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert waits[:5] == [0.01, 0.02, 0.04, 0.04, 0.005]
    assert loft.sent == [("pg-1", "hello")]


def test_only_push_channels_get_a_worker(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="does not push"):
        DeliveryWorker(channel=channels.WEB, sessions=sessions, sender=Loft())
