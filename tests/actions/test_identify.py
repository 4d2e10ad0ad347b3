"""validate_identify_form and action_identify_customer against a real CRM database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session, sessionmaker

from actions.identify import (
    NO_CODE,
    ActionIdentifyCustomer,
    ValidateIdentifyForm,
    name_from_text,
)
from crm_store import conversations, customers, verification
from relay.devmail import read_mails
from relay.mail import code_in
from tests.actions.conftest import form_tracker, said, texts, tracker


def _customer(sessions: sessionmaker[Session], **fields: Any) -> int:
    with sessions.begin() as session:
        return customers.create(session=session, actor="test", **fields).id


async def test_an_invalid_email_is_asked_again_with_the_reason(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateIdentifyForm().run(
        dispatcher, form_tracker("identify_form", "email", "ana at example dot com"), domain
    )
    assert events == [SlotSet("email", None), SlotSet("requested_slot", "email")]
    [message] = texts(dispatcher)
    assert "doesn't look like an email address" in message
    assert "name@example.com" in message
    assert "ana at example" not in message, "the customer's words are not echoed back"


async def test_a_known_email_does_not_fill_the_name_for_a_lead_or_a_case(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    """Skipping the name for a known address would tell whose address it is (issue 15)."""
    _customer(sessions, email="ana@example.com", name="Ana")
    dispatcher = CollectingDispatcher()
    events = await ValidateIdentifyForm().run(
        dispatcher, form_tracker("identify_form", "email", "My email is ANA@example.com.",
                                 slots={"pending_task": "sales"}), domain
    )
    assert events == [SlotSet("email", "ana@example.com"),
                      SlotSet("requested_slot", "customer_name")]
    assert dispatcher.messages == []


@pytest.mark.parametrize(
    ("text", "name"),
    [("Ana", "Ana"), ("my name is ana silva", "Ana Silva"), ("Call me McKenzie", "McKenzie"),
     ("ana@example.com", None), ("", None)],
)
def test_name_from_text(text: str, name: str | None) -> None:
    assert name_from_text(text) == name


async def test_a_typed_email_of_a_known_customer_is_only_claimed(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    """No "Welcome back", no name from the CRM, no change to the record, no identity attached:
    the conversation is linked as claimed, for the lead or case it opens (issue 15)."""
    grace = _customer(sessions, email="grace@example.com", name="Grace Hopper")
    dispatcher = CollectingDispatcher()
    events = await ActionIdentifyCustomer().run(
        dispatcher,
        tracker(sender_id="web-abc123", text="Mallory",
                slots={"email": "grace@example.com", "customer_name": "Mallory",
                       "pending_task": "report_problem"}, metadata={"channel": "web"}),
        domain,
    )
    assert events == [SlotSet("customer_id", grace), SlotSet("customer_name", "Mallory"),
                      SlotSet("email", "grace@example.com"), SlotSet("identified", True)]
    assert dispatcher.messages[0]["response"] == "utter_identified"
    assert dispatcher.messages[0]["name"] == "Mallory"
    with sessions() as session:
        record = customers.get_or_raise(session=session, customer_id=grace)
        assert record.name == "Grace Hopper" and record.identities == []
        linked = conversations.get_or_raise(session=session, conversation_id="web-abc123")
        assert linked.customer_id == grace and linked.verified_at is None
        assert verification.verified_customer_id(session=session,
                                                 conversation_id="web-abc123") is None


async def test_a_new_customer_is_created_with_their_name(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionIdentifyCustomer().run(
        dispatcher,
        tracker(sender_id="rest-1",
                slots={"email": "bob@example.com", "customer_name": "Bob Marley",
                       "pending_task": "sales"}),
        domain,
    )
    with sessions() as session:
        bob = customers.get_by_email(session=session, email="bob@example.com")
        assert bob is not None and bob.name == "Bob Marley"
        linked = conversations.get_or_raise(session=session, conversation_id="rest-1")
        assert linked.customer_id == bob.id
    assert events == [
        SlotSet("customer_id", bob.id),
        SlotSet("customer_name", "Bob Marley"),
        SlotSet("email", "bob@example.com"),
        SlotSet("identified", True),
    ]
    assert said(dispatcher) == ["utter_identified"]
    assert dispatcher.messages[0]["name"] == "Bob"  # first name only


async def mails_to(directory: Path, address: str, count: int = 1) -> list[str]:
    """The bodies of the mails to address, once `count` have arrived (sent in the background)."""
    for _ in range(100):
        found = [m.body for m in read_mails(directory) if m.to == address]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail to {address} in {directory}")


async def run_code_step(text: str, slots: dict[str, Any], domain: dict[str, Any],
                        sender_id: str = "tg-77") -> tuple[list[Any], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = await ValidateIdentifyForm().run(
        dispatcher, form_tracker("identify_form", "verification_code", text,
                                 slots={"pending_task": "check_cases", **slots},
                                 sender_id=sender_id), domain)
    return events, dispatcher


async def test_a_customers_records_need_the_mailed_code(
    sessions: sessionmaker[Session], domain: dict[str, Any], mailbox: Path
) -> None:
    """The email step says the same for a known and an unknown address; only the known one
    gets a mail, and only its code verifies the chat (attached as a verified identity)."""
    grace = _customer(sessions, email="grace@example.com", name="Grace Hopper")
    replies = []
    for address in ("grace@example.com", "nobody@example.com"):
        dispatcher = CollectingDispatcher()
        events = await ValidateIdentifyForm().run(
            dispatcher, form_tracker("identify_form", "email", address, sender_id="tg-77",
                                     slots={"pending_task": "check_cases"}), domain)
        assert SlotSet("email", address) in events
        assert SlotSet("requested_slot", "verification_code") in events
        replies.append([(m["response"], m.get("email")) for m in dispatcher.messages])
    assert replies == [[("utter_code_sent", "grace@example.com")],
                       [("utter_code_sent", "nobody@example.com")]]
    [body] = await mails_to(mailbox, "grace@example.com")
    await asyncio.sleep(0.3)
    assert [m.to for m in read_mails(mailbox)] == ["grace@example.com"]

    # The conversation's live code is now nobody@'s: typing Grace's address again at the code
    # prompt switches back to it, with a new code.
    events, dispatcher = await run_code_step("oh, it's grace@example.com",
                                             {"email": "nobody@example.com"}, domain)
    assert SlotSet("email", "grace@example.com") in events
    assert said(dispatcher) == ["utter_code_sent"]
    slots = {"email": "grace@example.com"}
    [mail_two] = (await mails_to(mailbox, "grace@example.com", 2))[1:]
    code = code_in(mail_two)
    assert code, mail_two
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    events, dispatcher = await run_code_step(f"{wrong[:3]} {wrong[3:]}", slots, domain)
    assert SlotSet("verification_code", None) in events
    assert said(dispatcher) == ["utter_code_wrong"]
    assert dispatcher.messages[0]["tries_left"] == 4
    events, dispatcher = await run_code_step(f"my code is {code}", slots, domain)
    assert SlotSet("verification_code", "verified") in events and dispatcher.messages == []
    assert code_in(body) is not None and body.count("Nimbus Drive") >= 1
    with sessions() as session:
        assert verification.verified_customer_id(session=session,
                                                 conversation_id="tg-77") == grace
        known = customers.find_by_identity(session=session, channel="telegram",
                                           external_id="77")
        assert known is not None and known.id == grace

    dispatcher = CollectingDispatcher()
    events = await ActionIdentifyCustomer().run(
        dispatcher, tracker(sender_id="tg-77", slots={"pending_task": "check_cases",
                                                      "email": "grace@example.com"}), domain)
    assert said(dispatcher) == ["utter_verified"] and dispatcher.messages[0]["name"] == "Grace"
    assert SlotSet("verified", True) in events and SlotSet("customer_id", grace) in events


async def test_resend_too_soon_wait_and_back_outs_at_the_code_prompt(
    sessions: sessionmaker[Session], domain: dict[str, Any], mailbox: Path
) -> None:
    _customer(sessions, email="ana@example.com", name="Ana")
    slots = {"email": "ana@example.com"}
    dispatcher = CollectingDispatcher()
    await ValidateIdentifyForm().run(
        dispatcher, form_tracker("identify_form", "email", "ana@example.com", sender_id="tg-77",
                                 slots={"pending_task": "check_cases"}), domain)
    for text in ("resend", "I didn't get it", "can you send it again?"):
        events, dispatcher = await run_code_step(text, slots, domain)
        assert said(dispatcher) == ["utter_code_wait"], text
        assert SlotSet("verification_code", None) in events
    events, dispatcher = await run_code_step("12345", slots, domain)
    assert said(dispatcher) == ["utter_code_hint"]
    events, dispatcher = await run_code_step("never mind", slots, domain)
    assert SlotSet("form_cancelled", True) in events


async def test_when_no_code_can_be_sent_the_form_ends_instead_of_asking_for_one(
    sessions: sessionmaker[Session], domain: dict[str, Any], mailbox: Path
) -> None:
    """The address had its codes for the hour: the bot said so, then "Please type the 6-digit
    code from that email", though no email came (found by the exploratory helper)."""
    _customer(sessions, email="grace@example.com", name="Grace")
    for n in range(verification.CODES_PER_EMAIL):
        with sessions.begin() as session:
            verification.issue_code(session=session, secret="unit", conversation_id=f"web-{n}",
                                    email="grace@example.com", actor="test", resend=False)
    dispatcher = CollectingDispatcher()
    events = await ValidateIdentifyForm().run(
        dispatcher, form_tracker("identify_form", "email", "grace@example.com",
                                 sender_id="web-late", slots={"pending_task": "check_cases"}),
        domain)
    assert said(dispatcher) == ["utter_code_limit"]
    assert SlotSet("verification_code", NO_CODE) in events  # the form's last slot: it ends
    dispatcher = CollectingDispatcher()
    events = await ActionIdentifyCustomer().run(dispatcher, tracker(sender_id="web-late", slots={
        "pending_task": "check_cases", "email": "grace@example.com",
        "verification_code": NO_CODE}), domain)
    assert said(dispatcher) == []  # the limit was said; nothing contradicts it
    assert SlotSet("verified", True) not in events and SlotSet("pending_task", None) in events


async def test_a_verified_task_is_refused_when_the_crm_says_unverified(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    """Slots saying "verified" are not enough: the CRM decides (a forged tracker gets nothing)."""
    _customer(sessions, email="grace@example.com", name="Grace Hopper")
    dispatcher = CollectingDispatcher()
    events = await ActionIdentifyCustomer().run(
        dispatcher, tracker(sender_id="web-forged", slots={
            "pending_task": "check_cases", "email": "grace@example.com",
            "verification_code": "verified", "verified": True}), domain)
    assert said(dispatcher) == ["utter_not_verified"]
    assert SlotSet("verified", True) not in events


@pytest.mark.parametrize("text", [
    "it started on monday", "hmm since last week", "<img src=x onerror=alert('name')>",
    "{{7*7}}", "../../etc/passwd",
])
def test_sentences_and_markup_are_not_names(text: str) -> None:
    """They were taken: "Thanks, It.", and a customer record named "<Img Src=X Onerror=…>"."""
    assert name_from_text(text) is None


@pytest.mark.parametrize(("text", "name"), [
    ("me llamo Carlos Ruiz", "Carlos Ruiz"), ("ich heiße Lukas", "Lukas"),
    ("je m'appelle Marie", "Marie"), ("meu nome é João", "João"), ("我叫王伟", "王伟"),
    ("李娜", "李娜"),
])
def test_names_are_read_in_any_language(text: str, name: str) -> None:
    assert name_from_text(text) == name


async def test_a_mistyped_agent_at_the_email_prompt_ends_the_form_and_hands_off(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    """"gent" (agent, mistyped) is no email: the form ends, and its end hands off instead of
    saying that nothing was changed."""
    dispatcher = CollectingDispatcher()
    events = await ValidateIdentifyForm().run(
        dispatcher, form_tracker("identify_form", "email", "gent"), domain)
    assert SlotSet("form_cancelled", True) in events and texts(dispatcher) == []
    ended = CollectingDispatcher()
    done = await ActionIdentifyCustomer().run(
        ended, tracker(text="gent", intent="nlu_fallback", slots={"form_cancelled": True}),
        domain)
    assert texts(ended) == []
    assert SlotSet("handoff_reason", "the customer asked for a person") in done
    assert FollowupAction("action_handoff") in done


async def test_a_name_a_letter_off_agent_is_still_a_name(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    events = await ValidateIdentifyForm().run(
        CollectingDispatcher(), form_tracker("identify_form", "customer_name", "Gent",
                                             slots={"email": "gent@example.com"}), domain)
    assert SlotSet("customer_name", "Gent") in events
