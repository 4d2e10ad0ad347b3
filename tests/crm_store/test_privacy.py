"""GDPR export and erasure (crm_store/privacy.py) on the running stack, and retention.

A customer talks to the bot through the widget and gives their email; afterwards an admin
exports their data and erases them, and the test searches every table of the database (the
CRM's and Rasa's `events`) and every log file for the email.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from crm_store import customers, interactions, privacy
from crm_store.db import make_engine, make_session_factory
from crm_store.enums import Author, Direction
from crm_store.models import AuditLog, Conversation, GapCluster, GapRun, Interaction, utcnow
from relay.users import Customer
from tests.conftest import RelayStack

pytestmark = pytest.mark.integration


def _system(stack: RelayStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.settings.service_token}"}


def _everywhere(stack: RelayStack, needle: str) -> list[str]:
    """Where needle (any case) appears: table names with a row holding it, and log files."""
    found = []
    engine = make_engine(stack.settings.database_url)
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                if needle.lower() in repr(tuple(row)).lower():
                    found.append(f"table {table}: {tuple(row)!r:.200}")
    engine.dispose()
    for path in (stack.settings.data_dir / "logs").glob("*.log*"):
        if needle.lower().encode() in path.read_bytes().lower():
            found.append(f"log {path.name}")
    return found


def test_erasure_leaves_no_trace_of_the_customer(any_stack: RelayStack) -> None:
    email = f"erase-me-{uuid.uuid4().hex[:8]}@example.com"
    api = f"{any_stack.api_url}/api/v1"
    created = httpx.post(f"{api}/customers", headers=_system(any_stack), timeout=30,
                         json={"name": "Erin Erasable", "email": email, "phone": "+4915112345678"})
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    visitor = Customer(any_stack.api_url)
    visitor.say("What is the status of my support cases?")
    visitor.say(email)
    visitor.say(any_stack.code_for(email))  # proves to be them: the conversation becomes theirs
    visitor.say("thanks")
    any_stack.wait_for(lambda: [w for w in _everywhere(any_stack, email) if "events" in w]
                       and [w for w in _everywhere(any_stack, email) if "interactions" in w],
                       what="the email in Rasa's events and the CRM's messages")
    exported = httpx.get(f"{api}/customers/{customer_id}/personal-data",
                         headers=_system(any_stack), timeout=30)
    assert exported.status_code == 200
    document = exported.json()
    assert document["customer"]["email"] == email
    assert visitor.conversation_id in {c["id"] for c in document["conversations"]}
    assert any(email in (e["data"] or "") for e in document["tracker_events"])

    erased = httpx.delete(f"{api}/customers/{customer_id}", headers=_system(any_stack),
                          timeout=30)
    assert erased.status_code == 200, erased.text
    assert erased.json()["tracker_events"] > 0 and erased.json()["messages"] > 0
    assert _everywhere(any_stack, email) == []
    assert _everywhere(any_stack, "+4915112345678") == []
    assert httpx.get(f"{api}/customers/{customer_id}", headers=_system(any_stack),
                     timeout=30).status_code == 404
    with any_stack.sessions() as session:
        row = session.scalars(select(AuditLog).where(
            AuditLog.action == "erase", AuditLog.entity_id == str(customer_id))).one()
        assert row.actor == "service:system" and row.after and row.after["conversations"] >= 1
    # the conversation starts afresh: Rasa does not remember the erased customer
    turn = visitor.say("What is the status of my support cases?")
    assert email not in repr(turn.replies)
    visitor.close()


def test_export_and_erasure_are_for_admins_only(relay_stack: RelayStack) -> None:
    login = httpx.post(f"{relay_stack.api_url}/api/v1/auth/login", timeout=30, json={
        "email": relay_stack.settings.demo_agent_email,
        "password": relay_stack.settings.demo_agent_password})
    token = login.json()["access_token"]
    agent = {"Authorization": f"Bearer {token}"}
    api = f"{relay_stack.api_url}/api/v1/customers/1"
    assert httpx.get(f"{api}/personal-data", headers=agent, timeout=30).status_code == 403
    assert httpx.delete(api, headers=agent, timeout=30).status_code == 403


def test_masking_a_log_keeps_what_others_append_meanwhile(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    log.write_text("login failed for ana@example.com\n")
    stop = threading.Event()

    def append() -> None:
        with log.open("a") as handle:
            while not stop.is_set():
                handle.write("a line from a running process\n")
                handle.flush()
                time.sleep(0.001)

    writer = threading.Thread(target=append)
    writer.start()
    time.sleep(0.05)
    assert privacy.mask_logs([tmp_path], ["ana@example.com"]) == 1
    stop.set()
    writer.join()
    content = log.read_text()
    assert "ana@example.com" not in content
    assert content.startswith("login failed for [erased][erased\n")  # same length
    assert content.count("a line from a running process") > 10


def test_retention_deletes_old_conversations_with_their_rasa_events(
    relay_stack: RelayStack,
) -> None:
    old, recent = Customer(relay_stack.api_url), Customer(relay_stack.api_url)
    old.say("hi")
    recent.say("hi")
    for customer in (old, recent):
        relay_stack.wait_for(lambda c=customer: _messages(relay_stack, c.conversation_id),
                             what=f"{customer.conversation_id} in the CRM")
    with relay_stack.sessions.begin() as session:
        conversation = session.get_one(Conversation, old.conversation_id)
        conversation.last_message_at = utcnow() - timedelta(days=40)
    sessions = make_session_factory(make_engine(relay_stack.settings.database_url))
    with sessions.begin() as session:
        purged = privacy.purge_conversations(session=session, older_than_days=30,
                                             actor="service:retention")
    assert purged >= 1
    assert _messages(relay_stack, old.conversation_id) == 0
    assert _messages(relay_stack, recent.conversation_id) > 0
    with relay_stack.sessions() as session:
        left = session.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"),
                               {"s": old.conversation_id}).scalar()
    assert left == 0
    old.close()
    recent.close()


def _messages(stack: RelayStack, conversation_id: str) -> int:
    with stack.sessions() as session:
        return len(session.scalars(select(Interaction.id).where(
            Interaction.conversation_id == conversation_id)).all())


def test_erasure_takes_the_customers_questions_out_of_knowledge_gap_clusters(
    sessions: sessionmaker[Session],
) -> None:
    email = f"gap-{uuid.uuid4().hex[:8]}@example.com"
    with sessions.begin() as session:
        customer = customers.create(session=session, actor="service:test", name="Gina Gap",
                                    email=email)
        theirs = interactions.record(
            session=session, conversation_id=f"web-{uuid.uuid4().hex}", direction=Direction.INBOUND,
            author=Author.CUSTOMER, text=f"can you bill {email} in yen", customer_id=customer.id)
        other = interactions.record(
            session=session, conversation_id=f"web-{uuid.uuid4().hex}", direction=Direction.INBOUND,
            author=Author.CUSTOMER, text="do you bill in yen")
        run = GapRun(trigger="manual", actor="service:test")
        session.add(run)
        session.flush()
        quoted = [{"id": m.id, "text": m.text, "at": utcnow().isoformat(), "outcome": "declined",
                   "conversation_id": m.conversation_id} for m in (theirs, other)]
        session.add(GapCluster(run_id=run.id, label=theirs.text, size=2, weekly=[2],
                               questions=quoted, agent_answer=f"We wrote to {email}."))
        customer_id = customer.id
    with sessions.begin() as session:
        done = privacy.erase(session=session, customer_id=customer_id, actor="service:test")
    assert done.gap_clusters_scrubbed == 1
    with sessions() as session:
        cluster = session.scalars(select(GapCluster)).one()
        assert [q["text"] for q in cluster.questions] == ["do you bill in yen"]
        assert cluster.label == "do you bill in yen" and cluster.agent_answer is None
        assert cluster.size == 2  # a count is no one's
        assert email not in repr(session.execute(select(GapCluster.__table__)).all())
