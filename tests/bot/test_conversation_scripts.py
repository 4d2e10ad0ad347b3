"""Scripted conversations (bot/tests/conversations/*.yml) against the real stack.

Each script is a customer's conversation through the widget gateway with what the replies must
(or must not) say, which FAQ entries they answer, and what the CRM holds afterwards. The
format is described at the top of bot/tests/conversations/what_happened_before.yml.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from crm_store import customers
from crm_store.models import Case, Customer, Lead
from relay.settings import ROOT
from relay.users import Customer as Visitor
from tests.conftest import RelayStack

pytestmark = pytest.mark.integration

SCRIPTS = sorted((ROOT / "bot" / "tests" / "conversations").glob("*.yml"))


def _scripts() -> list[Any]:
    found = []
    for path in SCRIPTS:
        for script in yaml.safe_load(path.read_text()):
            found.append(pytest.param(script, id=f"{Path(path).stem}: {script['name']}"))
    return found


def _fields(row: Any, expected: dict[str, Any]) -> dict[str, Any]:
    return {key: getattr(row, key) for key in expected}


# utter_code_sent and utter_code_resent name the address a code went to
CODE_SENT = ("If {email} has an account", "sent a new code to {email} ")


@pytest.mark.parametrize("script", _scripts())
def test_scripted_conversation(relay_stack: RelayStack, script: dict[str, Any]) -> None:
    email = f"script-{uuid.uuid4().hex[:10]}@example.com"
    if "known" in script:
        with relay_stack.sessions.begin() as session:
            customers.create(session=session, actor="test", email=email, **script["known"])
    visitor = Visitor(relay_stack.api_url)
    if script.get("signed_in"):
        user_id = f"script-{uuid.uuid4().hex[:10]}"
        assert visitor.sign_in(user_id, relay_stack.signed(user_id)).status_code == 200
    codes_mailed = 0  # to {email}, counted from what the bot said it sent
    try:
        for number, step in enumerate(script["turns"], start=1):
            said = str(step["say"]).replace("{email}", email)
            if "{code}" in said:
                said = said.replace("{code}", relay_stack.code_for(email,
                                                                   after=codes_mailed - 1))
            turn = visitor.say(said)
            joined = " | ".join(turn.texts)
            where = f"turn {number} {said!r} → {joined!r}"
            if "known" in script and any(sent.format(email=email) in joined
                                         for sent in CODE_SENT):
                codes_mailed += 1
            if "expect" in step:
                expected = str(step["expect"]).replace("{email}", email)
                assert expected.lower() in joined.lower(), where
            if "not" in step:
                assert str(step["not"]).lower() not in joined.lower(), where
            if "faq" in step:
                assert turn.entries == step["faq"], where
            if "replies" in step:
                assert len(turn.replies) == step["replies"], where
            if "status" in step:
                assert visitor.status() == step["status"], where
            assert 1 <= len(turn.replies) <= 3 or visitor.status() != "bot", where
    finally:
        visitor.close()

    with relay_stack.sessions() as session:
        customer = session.scalars(select(Customer).where(Customer.email == email)).first()
        if "customer" in script:
            assert customer is not None, f"no customer {email}"
            assert _fields(customer, script["customer"]) == script["customer"]
        if "lead" in script:
            lead = None if customer is None else session.scalars(
                select(Lead).where(Lead.customer_id == customer.id).order_by(Lead.id.desc())
            ).first()
            if script["lead"] is None:
                assert lead is None
            else:
                assert lead is not None, "no lead"
                assert _fields(lead, script["lead"]) == script["lead"]
        if "case" in script:
            case = session.scalars(
                select(Case).where(Case.conversation_id == visitor.conversation_id)
                .order_by(Case.id.desc())
            ).first()
            if script["case"] is None:
                assert case is None
            else:
                assert case is not None, "no case"
                assert case.type == script["case"]["type"]
                if "subject" in script["case"]:
                    assert script["case"]["subject"].lower() in case.subject.lower()
                if "unverified" in script["case"]:
                    assert case.unverified == script["case"]["unverified"]
