"""The cluster (relay/cluster.py) under traffic, with a Rasa replica killed in the middle.

2 Rasa servers, 2 action servers and 2 API workers behind HAProxy, on PostgreSQL and Redis,
started the way `relay.run --replicas 2` starts them. 200 customers write 10 messages each at
once through the widget gateway; after a third of the turns one Rasa server gets SIGKILL.
Every customer must get the bot's answer to every message, and Rasa's log of the conversations
(its tracker store: every replica writes to it) must hold every message exactly once, in the
order sent, each followed by the bot's reply: the conversation's lock in Redis keeps the two
servers from handling one conversation at once, and a message resent after the kill is handled
once (bot/rasa_channel.py). The CRM's log (the event broker's path) is checked the same way.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from crm_store.db import make_engine, make_session_factory, scratch_database
from crm_store.models import Interaction
from relay import cluster
from relay.convbench import FAQ_TURNS
from relay.settings import ROOT, Settings
from relay.stack import Stack
from tests.conftest import free_port, missing_service, postgres_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CUSTOMERS = 200
TURNS = 10
KILL_AFTER_SHARE = 1 / 3
QUESTIONS = FAQ_TURNS  # questions the FAQ answers (a declined one could end in a handoff)
SAVED = "your message is saved"


def _needs(binary: str) -> None:
    if not (shutil.which(binary) or Path(f"/usr/sbin/{binary}").exists()):
        missing_service(f"{binary} is not installed (scripts/system-deps.sh installs it)")


@pytest.fixture(scope="module")
def running_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The cluster of 2 on a fresh PostgreSQL database and its own Redis and HAProxy."""
    _needs("redis-server")
    _needs("haproxy")
    from relay.train import ensure_model

    with scratch_database(postgres_server(), "relay_cluster") as url:
        settings = Settings(
            env="test", data_dir=tmp_path_factory.mktemp("relay-cluster"), database_url=url,
            host="127.0.0.1", api_port=free_port(), rasa_port=free_port(),
            actions_port=free_port(), redis_port=free_port(),
            replica_port_base=cluster.free_port_block(),
            index_dir=ROOT / "var" / "index", models_dir=ROOT / "var" / "models",
            secret_key="test-secret-key", service_token="test-service-token",
            rasa_token="test-rasa-token", chat_rate_per_minute=0,
            rasa_timeout=120.0,  # one surviving replica queues 200 customers: they wait
        )
        stack = cluster.build_stack(cluster.prepare(settings), ensure_model(quiet=True), 2)
        try:
            stack.start(timeout=600)
            yield stack
        finally:
            stack.stop()


async def _post(client: httpx.AsyncClient, url: str, body: dict[str, str]) -> httpx.Response:
    """POST as the widget's browser would: a request that met a connection the server had just
    closed (a keep-alive race: "Server disconnected without sending a response") is sent
    again once. The message's id makes a repeat a no-op at the gateway, so this can neither
    lose nor double a message; it once lost one in a full run."""
    try:
        return await client.post(url, json=body)
    except (httpx.RemoteProtocolError, httpx.ConnectError):
        return await client.post(url, json=body)


async def _drive(api_url: str, stack: Stack) -> tuple[dict[str, list[str]], list[str], float]:
    """Run the customers; kill rasa-1 after a third of the turns. (sent, errors, kill time)."""
    sent: dict[str, list[str]] = {}
    errors: list[str] = []
    done = 0
    killed_at = 0.0
    victim = stack.service("rasa-1")
    limits = httpx.Limits(max_connections=CUSTOMERS + 10, max_keepalive_connections=CUSTOMERS)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def customer(number: int) -> None:
            nonlocal done, killed_at
            conversation = f"web-{uuid.uuid4().hex}"
            sent[conversation] = []
            for turn in range(TURNS):
                message = QUESTIONS[(number + turn) % len(QUESTIONS)]
                sent[conversation].append(message)
                try:
                    response = await _post(client, f"{api_url}/chat/{conversation}/messages",
                                           {"text": message, "id": f"m{turn}-{conversation[4:]}"})
                    replies = response.json().get("replies") if response.status_code == 200 \
                        else None
                except httpx.HTTPError as error:
                    replies, response = None, None
                    errors.append(f"{conversation} #{turn}: {type(error).__name__}")
                if response is not None and not replies:
                    errors.append(f"{conversation} #{turn}: HTTP {response.status_code}, "
                                  "no reply")
                elif replies and any(SAVED in (r.get("text") or "") for r in replies):
                    errors.append(f"{conversation} #{turn}: saved for a person, not answered")
                done += 1
                if not killed_at and done >= CUSTOMERS * TURNS * KILL_AFTER_SHARE:
                    killed_at = time.monotonic()
                    assert victim.pid is not None
                    os.killpg(victim.pid, signal.SIGKILL)

        await asyncio.gather(*(customer(n) for n in range(CUSTOMERS)))
    return sent, errors, killed_at


def _tracker_log(url: str, ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Rasa's events per conversation: ("user", text) and ("bot", text), in order."""
    engine = create_engine(url)
    log: dict[str, list[tuple[str, str]]] = {i: [] for i in ids}
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT sender_id, type_name, data FROM events WHERE type_name IN ('user', 'bot') "
            "ORDER BY id")).all()
    engine.dispose()
    import json

    for row in rows:
        if row.sender_id in log:
            log[row.sender_id].append((row.type_name, json.loads(row.data).get("text") or ""))
    return log


def _problems(sent: dict[str, list[str]], log: dict[str, list[tuple[str, str]]]) -> list[str]:
    """Conversations whose log is not: each sent message once, in order, each answered."""
    problems = []
    for conversation, messages in sent.items():
        entries = log.get(conversation, [])
        users = [t for kind, t in entries if kind == "user"]
        if users != messages:
            problems.append(f"{conversation}: messages logged {users!r}, sent {messages!r}")
            continue
        answered = [entries[i + 1][0] == "bot" if i + 1 < len(entries) else False
                    for i, (kind, _) in enumerate(entries) if kind == "user"]
        if not all(answered):
            problems.append(f"{conversation}: a message without a reply after it")
    return problems


@pytest.fixture(scope="module")
def cluster_run(running_cluster: Stack) -> dict[str, Any]:
    """The run: 200 customers, 10 turns each, rasa-1 killed a third of the way in."""
    started = time.monotonic()
    sent, errors, killed_at = asyncio.run(_drive(running_cluster.settings.api_url,
                                                 running_cluster))
    seconds = time.monotonic() - started
    turns = CUSTOMERS * TURNS
    print(f"\ncluster of 2: {turns} turns in {seconds:.1f} s ({turns / seconds:.1f} turns/s), "
          f"{len(errors)} errors")
    return {"sent": sent, "errors": errors, "killed_at": killed_at}


def test_200_customers_through_the_cluster_with_a_rasa_replica_killed(
    running_cluster: Stack, cluster_run: dict[str, Any],
) -> None:
    assert cluster_run["killed_at"], "the Rasa replica was never killed"
    assert running_cluster.service("rasa-1").exited() is not None
    errors = cluster_run["errors"]
    assert not errors, f"{len(errors)} turns went wrong, e.g. {errors[:5]}"
    sent = cluster_run["sent"]
    problems = _problems(sent, _tracker_log(running_cluster.settings.database_url, list(sent)))
    assert not problems, f"{len(problems)} conversations, e.g. {problems[:3]}"


def _crm_log(settings: Settings, ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    log: dict[str, list[tuple[str, str]]] = {i: [] for i in ids}
    with sessions() as session:
        rows = session.execute(
            select(Interaction.conversation_id, Interaction.direction, Interaction.author,
                   Interaction.text).where(Interaction.conversation_id.in_(ids))
            .order_by(Interaction.id)).all()
    engine.dispose()
    for row in rows:
        kind = "user" if row.direction == "inbound" else "bot"
        log[row.conversation_id].append((kind, row.text))
    return log


def test_the_crm_logged_every_message_of_the_cluster_run_once_in_order(
    running_cluster: Stack, cluster_run: dict[str, Any],
) -> None:
    """Issue 14's invariant, with a Rasa replica killed mid-run. Expected to fail while the
    CRM took Rasa's events from an in-memory broker; the durable event path (Rasa's tracker
    store read behind a cursor, crm_store/events.py) holds it, so it is asserted outright."""
    sent = cluster_run["sent"]
    deadline = time.monotonic() + 60
    while True:
        problems = _problems(sent, _crm_log(running_cluster.settings, list(sent)))
        if not problems or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert not problems, f"{len(problems)} conversations, e.g. {problems[:3]}"
