"""Processes killed in the middle of traffic, on the real stack: nothing lost, nothing twice.

Customers talk through the widget's route on the API, as the widget does: each message has
the widget's id and is posted again with the same id when the request fails. Meanwhile the
API, then Rasa, is killed with SIGKILL (no shutdown, no flush) and started again; then the
action server; then the Telegram bridge, while Telegram customers write. Afterwards every
message a customer sent is in the CRM exactly once, every reply a customer was shown is in the
CRM, nothing waits in the inbox, and while the action server was down every customer got an
answer (the fallback), never an empty one.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.channels.fake_bot_api import FakeBotApi, running_fake_bot_api
from tests.conftest import (
    RelayStack,
    _running_stack,
    new_conversation_id,
    rasa_channel_constant,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Questions the FAQ answers, so no turn ends in a handoff that would pause the bot.
QUESTIONS = ["how do I reset my password?", "what does the business plan cost",
             "can I get a refund", "is my data encrypted?", "how do I share a folder"]
RETRY_FOR = 900.0  # seconds a customer's widget keeps posting a message again
# Rasa takes half a minute to start on a quiet machine, several on a busy one.
RESTART_TIMEOUT = 900.0


TELEGRAM_TOKEN = "616161:FAULTS-TEST"


@pytest.fixture(scope="module")
def bot_api() -> Iterator[FakeBotApi]:
    """The local Bot API stand-in the stack's Telegram bridge polls and sends to."""
    with running_fake_bot_api(TELEGRAM_TOKEN) as api:
        yield api


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, bot_api: FakeBotApi) -> Iterator[RelayStack]:
    """A stack of its own, with its Telegram bridge: its processes are killed here, which
    others' tests must not see."""
    # A short hold: requests made while Rasa is down answer "in a moment" quickly and the
    # replayer hands their messages on when Rasa is back.
    with _running_stack(Path(tmp_path_factory.mktemp("faults")), rasa_hold_seconds=3.0,
                        telegram_token=TELEGRAM_TOKEN, telegram_base_url=bot_api.url) as s:
        yield s


@dataclass
class Traffic:
    """What the customers sent and what they were shown."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)  # conversation, id, text
    shown: dict[str, list[str]] = field(default_factory=dict)  # conversation -> reply texts
    empty: int = 0  # answers with no reply at all
    retries: int = 0
    unaccepted: list[str] = field(default_factory=list)  # ids never answered with 200


async def _post(client: httpx.AsyncClient, cid: str, text: str, traffic: Traffic) -> None:
    """One widget message, posted again with the same id until the API answers 200."""
    message_id = uuid.uuid4().hex[:16]
    traffic.sent.append((cid, message_id, text))
    deadline = time.monotonic() + RETRY_FOR
    while True:
        try:
            response = await client.post(f"/chat/{cid}/messages",
                                         json={"text": text, "id": message_id})
            if response.status_code == 200:
                replies = [r["text"] for r in response.json()["replies"]]
                traffic.shown.setdefault(cid, []).extend(replies)
                traffic.empty += not replies
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:  # (a thread's pytest.fail would not fail the test)
            traffic.unaccepted.append(message_id)
            return
        traffic.retries += 1
        await asyncio.sleep(0.5)


async def _customers(api_url: str, conversations: list[str], turns: int,
                     traffic: Traffic) -> None:
    async def one(cid: str, offset: int) -> None:
        for turn in range(turns):
            await _post(client, cid, QUESTIONS[(offset + turn) % len(QUESTIONS)], traffic)

    async with httpx.AsyncClient(base_url=api_url, timeout=60) as client:
        await asyncio.gather(*(one(cid, i) for i, cid in enumerate(conversations)))


def _drive(stack: RelayStack, conversations: list[str], turns: int,
           traffic: Traffic) -> threading.Event:
    """Start the customers talking on a thread of their own; set when they are done."""
    done = threading.Event()

    def run() -> None:
        try:
            asyncio.run(_customers(stack.api_url, conversations, turns, traffic))
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    return done


def _kill_and_restart(stack: RelayStack, name: str) -> None:
    service = stack.stack.service(name)
    service.kill()
    time.sleep(1.0)  # customers keep talking to a dead process for a moment
    service.start(stack.stack.env)
    stack.stack.wait([service], timeout=RESTART_TIMEOUT)


def _wait_answered(traffic: Traffic, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while sum(len(v) for v in traffic.shown.values()) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"fewer than {count} replies after {timeout:.0f} s")
        time.sleep(0.2)


def _logged(stack: RelayStack, conversations: list[str]) -> dict[str, list[tuple[str, str]]]:
    from crm_store import interactions

    with stack.sessions() as session:
        return {cid: [(r.author, r.text) for r in interactions.list_for_conversation(
            session=session, conversation_id=cid)] for cid in conversations}


def _waiting_in_inbox(stack: RelayStack) -> int:
    from crm_store.models import InboundMessage

    with stack.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(InboundMessage)
                                  .where(InboundMessage.processed_at.is_(None))) or 0)


def _check_nothing_lost(stack: RelayStack, conversations: list[str], traffic: Traffic) -> None:
    """Every message sent is logged once, every reply shown is logged, nothing waits."""
    expected = {cid: Counter(t for c, _, t in traffic.sent if c == cid) for cid in conversations}

    def settled() -> bool:
        logged = _logged(stack, conversations)
        customers = {cid: Counter(t for a, t in rows if a == "customer")
                     for cid, rows in logged.items()}
        return customers == expected and _waiting_in_inbox(stack) == 0

    stack.wait_for(settled, timeout=180, what="every customer message in the CRM")
    logged = _logged(stack, conversations)
    for cid in conversations:
        customers = Counter(t for a, t in logged[cid] if a == "customer")
        assert customers == expected[cid], cid  # once each, none lost, none twice
        answers = Counter(t for a, t in logged[cid] if a in ("bot", "system"))
        missing = Counter(traffic.shown.get(cid, [])) - answers
        assert not missing, f"{cid}: shown to the customer but not in the CRM: {missing}"


def test_kill_9_of_the_api_and_of_rasa_in_mid_traffic_loses_and_duplicates_nothing(
    stack: RelayStack,
) -> None:
    conversations = [new_conversation_id("web") for _ in range(6)]
    traffic = Traffic()
    done = _drive(stack, conversations, 8, traffic)
    _wait_answered(traffic, 8)
    _kill_and_restart(stack, "api")  # requests in flight die; the widget posts them again
    retried_after_api = traffic.retries
    _wait_answered(traffic, 16)
    _kill_and_restart(stack, "rasa")  # turns in flight die with it; messages wait meanwhile
    assert done.wait(timeout=RETRY_FOR), "the customers never finished"
    assert not traffic.unaccepted
    assert traffic.empty == 0
    _check_nothing_lost(stack, conversations, traffic)
    assert retried_after_api > 0  # the API's kill did hit requests in flight


def test_with_the_action_server_killed_in_mid_traffic_every_customer_gets_an_answer(
    stack: RelayStack,
) -> None:
    fallback = rasa_channel_constant("FALLBACK")
    conversations = [new_conversation_id("web") for _ in range(4)]
    traffic = Traffic()
    done = _drive(stack, conversations, 6, traffic)
    _wait_answered(traffic, 4)
    actions = stack.stack.service("actions")
    actions.kill()
    _wait_answered(traffic, 12)
    actions.start(stack.stack.env)
    stack.stack.wait([actions], timeout=RESTART_TIMEOUT)
    assert done.wait(timeout=RETRY_FOR), "the customers never finished"
    assert not traffic.unaccepted
    assert traffic.empty == 0  # never HTTP 200 with no reply
    shown = [text for texts in traffic.shown.values() for text in texts]
    assert fallback in shown  # what the customers got while the action server was down
    assert shown.count(fallback) < len(shown)  # and real answers around it
    _check_nothing_lost(stack, conversations, traffic)


def _telegram_update(update_id: int, chat: int, text: str) -> dict[str, object]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": text,
        "chat": {"id": chat, "type": "private", "first_name": "Tia"},
        "from": {"id": chat, "is_bot": False, "first_name": "Tia"}}}


def test_kill_9_of_the_telegram_bridge_in_mid_traffic_loses_and_duplicates_nothing(
    stack: RelayStack, bot_api: FakeBotApi,
) -> None:
    """Telegram customers keep writing while the bridge dies without a flush and restarts:
    every update is handed on once (Telegram serves again what was not confirmed; the inbox
    drops what it already has), every reply the CRM holds reaches its chat, and a reply is
    sent twice only if the kill fell between Telegram's answer and the outbox's commit."""
    chats = [880_000 + i for i in range(5)]
    turns = 6
    sent: list[tuple[int, str]] = []
    update_ids = iter(range(8_800_000, 8_900_000))

    def customers() -> None:
        for turn in range(turns):
            for i, chat in enumerate(chats):
                text = QUESTIONS[(i + turn) % len(QUESTIONS)]
                sent.append((chat, text))
                bot_api.queue_update(_telegram_update(next(update_ids), chat, text))
            time.sleep(1.0)

    writing = threading.Thread(target=customers, daemon=True)
    writing.start()
    stack.wait_for(lambda: len([m for m in bot_api.sent() if int(m["chat_id"]) in chats]) >= 3,
                   timeout=120, what="the first replies on Telegram")
    bridge = stack.stack.service("telegram")
    bridge.kill()
    time.sleep(2.0)  # updates arrive while nobody polls
    bridge.start(stack.stack.env)
    stack.stack.wait([bridge], timeout=RESTART_TIMEOUT)
    writing.join(timeout=120)
    conversations = [f"tg-{chat}" for chat in chats]
    expected = {f"tg-{chat}": Counter(t for c, t in sent if c == chat) for chat in chats}

    def settled() -> bool:
        logged = _logged(stack, conversations)
        return ({cid: Counter(t for a, t in rows if a == "customer")
                 for cid, rows in logged.items()} == expected
                and _waiting_in_inbox(stack) == 0 and not _undelivered(stack, conversations))

    stack.wait_for(settled, timeout=300, what="every Telegram message in the CRM, answered")
    logged = _logged(stack, conversations)
    duplicates = 0
    for chat, cid in zip(chats, conversations, strict=True):
        assert Counter(t for a, t in logged[cid] if a == "customer") == expected[cid], cid
        replies = Counter(t for a, t in logged[cid] if a in ("bot", "system", "agent"))
        assert sum(replies.values()) >= sum(expected[cid].values()), f"{cid}: unanswered"
        received = Counter(str(m["text"]) for m in bot_api.sent(chat))
        # Long replies are split for Telegram; compare on the parts' beginnings.
        missing = [t for t in replies if not any(r.startswith(t[:60]) for r in received)]
        assert not missing, f"{cid}: in the CRM but never sent to the chat: {missing}"
        duplicates += sum(received.values()) - sum(replies.values())
    assert duplicates <= len(chats), f"{duplicates} replies sent twice"


def _undelivered(stack: RelayStack, conversations: list[str]) -> int:
    from crm_store.enums import Direction
    from crm_store.models import Interaction

    with stack.sessions() as session:
        return int(session.scalar(
            select(func.count()).select_from(Interaction).where(
                Interaction.conversation_id.in_(conversations),
                Interaction.direction == Direction.OUTBOUND,
                Interaction.delivered_at.is_(None), Interaction.note.is_(False))) or 0)
