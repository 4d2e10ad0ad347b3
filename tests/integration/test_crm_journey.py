"""Issue 3 as a new user would try it: chat, identify, ask for a demo — then look in the CRM API.

Real Rasa, real action server, real API, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import uuid
from contextlib import closing

import httpx
import pytest

from tests.conftest import RelayStack, new_conversation_id

pytestmark = pytest.mark.integration


def _agent_client(stack: RelayStack) -> httpx.Client:
    client = httpx.Client(base_url=f"{stack.api_url}/api/v1", timeout=30)
    login = client.post(
        "/auth/login",
        json={
            "email": stack.settings.demo_agent_email,
            "password": stack.settings.demo_agent_password,
        },
    )
    assert login.status_code == 200, login.text
    client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    return client


def _texts(replies: list[dict]) -> str:  # type: ignore[type-arg]
    return " ".join(r.get("text") or "" for r in replies)


def test_demo_request_becomes_a_lead_with_the_whole_conversation(any_stack: RelayStack) -> None:
    stack = any_stack
    sender = new_conversation_id()
    email = f"dana.{uuid.uuid4().hex[:6]}@example.com"
    turns = [
        "hi",
        "I want a demo for my team of 40",
        email,
        "Dana Scully",
        "Scully Research",
        "around 800 euros a month",
        "next month",
    ]
    replies = [stack.say(sender, text) for text in turns]
    assert "email" in _texts(replies[1]).lower()
    assert "name" in _texts(replies[2]).lower()
    assert "company" in _texts(replies[3]).lower()
    assert "sales team" in _texts(replies[-1]).lower(), "the lead form must confirm"

    with closing(_agent_client(stack)) as api:
        found = api.get("/customers", params={"email": email}).json()
        assert found["total"] == 1
        customer = found["items"][0]
        assert customer["name"] == "Dana Scully"
        # Unverified, but the record is new, made by this very conversation (a new address):
        # filling in its company changes nobody else's record (actions/sales.created_here).
        assert customer["company"] == "Scully Research"

        leads = api.get("/leads", params={"stage": "new"}).json()["items"]
        mine = [lead for lead in leads if lead["customer_id"] == customer["id"]]
        assert len(mine) == 1
        assert mine[0]["stage"] == "new" and mine[0]["unverified"] is True
        assert "company:" not in mine[0]["interest"]  # on the record, not in the interest
        assert "40" in (mine[0]["company_size"] or "")
        assert mine[0]["timeline"]

        def timeline() -> list[dict]:  # type: ignore[type-arg]
            rows = api.get(f"/customers/{customer['id']}/timeline").json()
            inbound = [
                r for r in rows if r["direction"] == "inbound" and r["conversation_id"] == sender
            ]
            return rows if len(inbound) == len(turns) else []

        rows = stack.wait_for(timeline, what="the whole conversation in the customer's timeline")
    ours = [r for r in rows if r["conversation_id"] == sender]
    # The turns from before the customer identified are linked too, in the order they were said.
    inbound = [
        r["text"] for r in sorted(ours, key=lambda r: r["id"]) if r["direction"] == "inbound"
    ]
    assert inbound == turns
    assert all(r["customer_id"] == customer["id"] for r in ours)
    assert any(r["direction"] == "outbound" and r["author"] == "bot" for r in ours)
