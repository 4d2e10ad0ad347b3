"""The shared delivery worker, driven through a channel that exists only in this test.

"Pigeon" is what adding a channel takes: an entry in the registry (here patched in) and a
Sender. Nothing in the CRM or the worker knows its name. The outbox's states: delivered,
pending with the next try (back-off, flood control), failed with the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.delivery import DeliveryWorker, Outgoing, RetryLater, Undeliverable
from crm_store import interactions
from crm_store.models import Interaction, utcnow
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

    async def send(self, message: Outgoing) -> None:
        if message.text in self.fail:
            raise self.fail.pop(message.text)
        self.sent.append((message.conversation_id, message.text))


def reply(sessions: sessionmaker[Session], conversation_id: str, text: str,
          author: str = "agent", **extra: Any) -> int:
    with sessions.begin() as session:
        return interactions.record(session=session, conversation_id=conversation_id,
                                   direction="outbound", author=author, text=text, **extra).id


def delivered(sessions: sessionmaker[Session]) -> set[int]:
    with sessions() as session:
        return set(session.scalars(
            select(Interaction.id).where(Interaction.delivered_at.is_not(None))))


def row(sessions: sessionmaker[Session], interaction_id: int) -> Interaction:
    with sessions() as session:
        return session.get_one(Interaction, interaction_id)


def test_a_new_channel_is_known_by_its_prefix_without_naming_it_anywhere(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        message = interactions.record(session=session, conversation_id="pg-42",
                                      direction="inbound", author="customer", text="coo")
        assert message.channel == "pigeon"
    assert channels.of_conversation("pg-42").external_id("pg-42") == "42"


async def test_every_undelivered_message_of_the_channel_is_sent_in_order_and_marked(
    sessions: sessionmaker[Session],
) -> None:
    first = reply(sessions, "pg-1", "first")
    with sessions.begin() as session:
        interactions.add_note(session=session, conversation_id="pg-1", text="internal")
    answered = reply(sessions, "pg-1", "given in the turn", author="system", delivered=True)
    bot = reply(sessions, "pg-1", "a bot line", author="bot")
    other = reply(sessions, "tg-1", "for telegram")
    second = reply(sessions, "pg-2", "second")
    loft = Loft()
    worker = DeliveryWorker(channel=PIGEON, sessions=sessions, sender=loft)
    assert await worker.deliver_once() == 3
    assert await worker.deliver_once() == 0
    assert loft.sent == [("pg-1", "first"), ("pg-1", "a bot line"), ("pg-2", "second")]
    assert delivered(sessions) == {first, bot, second, answered}
    assert other not in delivered(sessions)
    with sessions() as session:
        statuses = {r.id: interactions.delivery_status(r) for r in session.scalars(
            select(Interaction))}
    assert statuses[first] == "delivered" and statuses[other] == "pending"


async def test_a_transient_failure_holds_back_that_conversation_only_until_its_retry(
    sessions: sessionmaker[Session],
) -> None:
    first, second = reply(sessions, "pg-1", "first"), reply(sessions, "pg-1", "second")
    elsewhere = reply(sessions, "pg-2", "elsewhere")
    loft = Loft()
    loft.fail["first"] = ConnectionError("network down")
    worker = DeliveryWorker(channel=PIGEON, sessions=sessions, sender=loft)
    assert await worker.deliver_once() == 1
    assert loft.sent == [("pg-2", "elsewhere")] and delivered(sessions) == {elsewhere}
    waiting = row(sessions, first)
    assert waiting.delivery_attempts == 1 and "network down" in (waiting.delivery_error or "")
    assert waiting.next_attempt_at is not None and waiting.failed_at is None
    await asyncio.sleep(0.05)  # the pigeon's first back-off is 10 ms
    assert await worker.deliver_once() == 2
    assert loft.sent[1:] == [("pg-1", "first"), ("pg-1", "second")]
    assert delivered(sessions) == {first, second, elsewhere}


async def test_an_undeliverable_message_fails_with_its_reason_and_is_not_retried(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture,
) -> None:
    blocked, fine = reply(sessions, "pg-1", "to a blocked chat"), reply(sessions, "pg-2", "fine")
    loft = Loft()
    loft.fail["to a blocked chat"] = Undeliverable("Forbidden: bot was blocked by the user")
    worker = DeliveryWorker(channel=PIGEON, sessions=sessions, sender=loft)
    assert await worker.deliver_once() == 1
    assert await worker.deliver_once() == 0
    assert loft.sent == [("pg-2", "fine")] and delivered(sessions) == {fine}
    failed = row(sessions, blocked)
    assert failed.failed_at is not None and failed.delivered_at is None
    assert failed.delivery_error == "Forbidden: bot was blocked by the user"
    assert interactions.delivery_status(failed) == "failed"
    assert "cannot be delivered: Forbidden: bot was blocked" in caplog.text
    with sessions.begin() as session:  # an agent tries again
        assert interactions.retry_failed(session=session, interaction_id=blocked)
    assert await worker.deliver_once() == 1
    assert loft.sent[-1] == ("pg-1", "to a blocked chat")


async def test_flood_control_pauses_the_worker_for_retry_after(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture,
) -> None:
    first = reply(sessions, "pg-1", "first")
    reply(sessions, "pg-2", "second")
    loft = Loft()
    loft.fail["first"] = RetryLater("Too Many Requests: retry after 1", retry_after=1.0)
    worker = DeliveryWorker(channel=PIGEON, sessions=sessions, sender=loft)
    assert await worker.deliver_once() == 0  # paused: the second message waits too
    assert await worker.deliver_once() == 0
    assert loft.sent == []
    assert "flood control" in (row(sessions, first).delivery_error or "")
    await asyncio.sleep(1.05)
    assert await worker.deliver_once() == 2
    assert loft.sent == [("pg-1", "first"), ("pg-2", "second")]
    assert sum("asked to wait" in r.message for r in caplog.records) == 1
    assert not any(r.exc_info for r in caplog.records), "one line per failure, no traceback"


async def test_a_message_claimed_by_another_worker_waits_for_its_lease(
    sessions: sessionmaker[Session],
) -> None:
    message = reply(sessions, "pg-1", "only once")
    with sessions.begin() as session:
        assert interactions.claim_for_delivery(session=session, interaction_id=message,
                                               until=utcnow() + timedelta(seconds=0.3))
    loft = Loft()
    worker = DeliveryWorker(channel=PIGEON, sessions=sessions, sender=loft)
    assert await worker.deliver_once() == 0 and loft.sent == []
    await asyncio.sleep(0.4)  # the other worker died mid-send: its lease runs out
    assert await worker.deliver_once() == 1 and loft.sent == [("pg-1", "only once")]


async def test_a_message_failing_for_a_day_is_given_up(
    sessions: sessionmaker[Session],
) -> None:
    old = reply(sessions, "pg-1", "stale", created_at=utcnow() - timedelta(hours=25))
    loft = Loft()
    loft.fail["stale"] = ConnectionError("still down")
    worker = DeliveryWorker(channel=PIGEON, sessions=sessions, sender=loft)
    assert await worker.deliver_once() == 0
    gone = row(sessions, old)
    assert gone.failed_at is not None and "gave up after 1 tries" in (gone.delivery_error or "")


async def test_a_wake_up_delivers_without_waiting_for_the_poll(
    sessions: sessionmaker[Session],
) -> None:
    loft = Loft()
    worker = DeliveryWorker(channel=PIGEON, sessions=sessions, sender=loft, poll_seconds=30)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.2)
    reply(sessions, "pg-1", "now")
    worker.wake()
    for _ in range(100):
        if loft.sent:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert loft.sent == [("pg-1", "now")]


def test_only_push_channels_get_a_worker(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="does not push"):
        DeliveryWorker(channel=channels.WEB, sessions=sessions, sender=Loft())


async def test_a_cancel_that_comes_with_a_wake_up_still_stops_the_worker(
    sessions: sessionmaker[Session],
) -> None:
    """Shutting down just as a message is written: the cancel and the wake-up land together.
    On Python 3.11 asyncio.wait_for dropped such a cancel, the worker ran on, and the bridge's
    shutdown waited for it for ever (a hung test run showed it)."""
    worker = DeliveryWorker(channel=PIGEON, sessions=sessions, sender=Loft(), poll_seconds=30)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.3)  # nothing to send: idle, waiting to be woken
    worker.wake()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done and task.cancelled()


class Gate(Loft):
    """A Sender whose send waits until the test lets it finish."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, message: Outgoing) -> None:
        self.entered.set()
        await self.release.wait()
        await super().send(message)


async def test_a_cancel_that_comes_as_a_send_finishes_still_stops_the_worker(
    sessions: sessionmaker[Session],
) -> None:
    """The bridge shutting down just as a message went out (a test run hung on it in CI's
    suite: Python 3.11's wait_for around the send dropped the cancel)."""
    gate = Gate()
    reply(sessions, "pg-1", "now")
    worker = DeliveryWorker(channel=PIGEON, sessions=sessions, sender=gate, poll_seconds=30)
    task = asyncio.create_task(worker.run())
    for _ in range(250):
        if gate.entered.is_set():
            break
        await asyncio.sleep(0.02)
    gate.release.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done and task.cancelled()
