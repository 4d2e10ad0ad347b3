"""Customer verification through the real stack: impersonation refused, codes from real mail.

Real Rasa, action server, API and development mail server (aiosmtpd); the customer talks
through the widget gateway like the widget does. Grace Hopper is a seeded customer with an
open case ("Wrong VAT number on invoice").
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from crm_store import customers, verification
from crm_store.models import Case
from crm_store.models import Customer as CustomerRow
from relay.users import Customer
from tests.conftest import RelayStack

pytestmark = pytest.mark.integration

GRACE = "grace@example.com"
SECRETS = ("Grace", "Hopper", "VAT", "#", "Cobol", "+1415")


def leaks(texts: list[str]) -> list[str]:
    """What of Grace's record a reply gave away."""
    return [word for word in SECRETS for text in texts if word in text]


def grace_record(stack: RelayStack) -> tuple[str | None, str | None, str | None]:
    with stack.sessions() as session:
        grace = customers.get_by_email(session=session, email=GRACE)
        assert grace is not None
        return grace.name, grace.phone, grace.address


def test_typing_graces_email_shows_nothing_and_changes_nothing(relay_stack: RelayStack) -> None:
    """Issue 15, #1: the case list and the change flows, with her email and wrong codes."""
    before = grace_record(relay_stack)
    mails = relay_stack.mails_to(GRACE)
    visitor = Customer(relay_stack.api_url)
    try:
        said = [visitor.say("What is the status of my support cases?"), visitor.say(GRACE)]
        assert "if grace@example.com has an account" in said[-1].texts[0].lower()
        said += [visitor.say("123 456"), visitor.say("000000"), visitor.say("I didn't get it")]
        said += [visitor.say("I want to change my phone number"), visitor.say(GRACE),
                 visitor.say("+44 20 7946 0958"), visitor.say("yes")]
        said += [visitor.say("my address has changed"), visitor.say("stop")]
        texts = [t for turn in said for t in turn.texts]
        assert leaks(texts) == [], texts
        assert not any("welcome back" in t.lower() for t in texts)
        assert any("doesn't match" in t for t in texts)
    finally:
        visitor.close()
    assert grace_record(relay_stack) == before
    # The owner of the address was mailed the codes someone asked for, and nothing more.
    assert relay_stack.mails_to(GRACE) > mails
    with relay_stack.sessions() as session:
        assert verification.verified_customer_id(
            session=session, conversation_id=visitor.conversation_id) is None
        grace = customers.get_by_email(session=session, email=GRACE)
        assert grace is not None
        assert all(i.external_id != visitor.conversation_id[4:] for i in grace.identities)


def test_an_unknown_address_gets_the_same_words_and_no_mail(relay_stack: RelayStack) -> None:
    """No account enumeration: the reply to a known and an unknown address differ only by it."""
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    replies = []
    for address in (GRACE, nobody):
        visitor = Customer(relay_stack.api_url)
        try:
            visitor.say("what's the status of my cases?")
            replies.append([t.replace(address, "<address>") for t in visitor.say(address).texts])
        finally:
            visitor.close()
    assert replies[0] == replies[1]
    assert relay_stack.mails_to(nobody) == 0


def test_the_mailed_code_verifies_and_the_chat_stays_verified(relay_stack: RelayStack) -> None:
    """The owner gets the code by mail, types it with a space, sees her cases, changes her
    phone number; later in the chat she is not asked again."""
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    with relay_stack.sessions.begin() as session:
        owner = customers.create(session=session, actor="test", email=email, name="Olive Owner",
                                 type="customer")
        session.add(Case(customer_id=owner.id, subject="Sync stopped on my laptop"))
    visitor = Customer(relay_stack.api_url)
    try:
        visitor.say("what is the status of my support cases?")
        sent = relay_stack.mails_to(email)
        visitor.say(email)
        code = relay_stack.code_for(email, after=sent)
        wrong = visitor.say(f"{(int(code) + 1) % 10**6:06d}")
        assert "tries left: 4" in " ".join(wrong.texts)
        turn = visitor.say(f"{code[:3]} {code[3:]}")
        joined = " ".join(turn.texts)
        assert "Thanks, Olive" in joined and "Sync stopped on my laptop" in joined
        visitor.say("I need to change my phone number")
        visitor.say("+44 20 7946 0958")
        done = visitor.say("yes")
        assert "+442079460958" in " ".join(done.texts)
        again = visitor.say("show me my cases")
        assert "Sync stopped on my laptop" in " ".join(again.texts)
    finally:
        visitor.close()
    with relay_stack.sessions() as session:
        row = session.get(CustomerRow, owner.id)
        assert row is not None and row.phone == "+442079460958"
        assert verification.verified_customer_id(
            session=session, conversation_id=visitor.conversation_id) == owner.id


def test_a_signed_in_visitor_is_not_asked_who_they_are(relay_stack: RelayStack) -> None:
    """The website's HMAC verifies the chat: cases straight away; a forged one gets a 403."""
    user_id = f"site-{uuid.uuid4().hex[:8]}"
    visitor = Customer(relay_stack.api_url)
    try:
        forged = visitor.sign_in(user_id, relay_stack.signed(user_id + "x"))
        assert forged.status_code == 403
        assert visitor.sign_in(user_id, relay_stack.signed(user_id), name="Sam Signed",
                               email=f"{user_id}@example.com").status_code == 200
        turn = visitor.say("what is the status of my support cases?")
        joined = " ".join(turn.texts).lower()
        assert "email" not in joined and "no support cases" in joined
    finally:
        visitor.close()
    with relay_stack.sessions() as session:
        found = session.scalars(select(CustomerRow).where(CustomerRow.external_id == user_id)
                                ).one()
        assert found.name == "Sam Signed"
