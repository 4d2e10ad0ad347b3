"""validate_identify_form and action_identify_customer against a real CRM database."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session, sessionmaker

from actions.identify import ActionIdentifyCustomer, ValidateIdentifyForm, name_from_text
from crm_store import conversations, customers, interactions
from tests.actions.conftest import form_tracker, texts, tracker


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
    assert events == [SlotSet("email", None)]
    [message] = texts(dispatcher)
    assert "doesn't look like an email address" in message
    assert "name@example.com" in message
    assert "ana at example" not in message, "the customer's words are not echoed back"


async def test_a_known_email_fills_the_name_so_it_is_not_asked(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    _customer(sessions, email="ana@example.com", name="Ana")
    dispatcher = CollectingDispatcher()
    events = await ValidateIdentifyForm().run(
        dispatcher, form_tracker("identify_form", "email", "My email is ANA@example.com."), domain
    )
    assert events == [SlotSet("email", "ana@example.com"), SlotSet("customer_name", "Ana")]
    assert dispatcher.messages == []


async def test_an_unknown_email_leaves_the_name_to_be_asked(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateIdentifyForm().run(
        dispatcher, form_tracker("identify_form", "email", "bob@example.com"), domain
    )
    assert events == [SlotSet("email", "bob@example.com"), SlotSet("customer_name", None)]


async def test_a_name_is_tidied_and_a_non_name_is_asked_again(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    slots = {"email": "bob@example.com"}
    events = await ValidateIdentifyForm().run(
        dispatcher, form_tracker("identify_form", "customer_name", "i'm bob marley", slots=slots),
        domain,
    )
    assert events == [SlotSet("customer_name", "Bob Marley")]

    dispatcher = CollectingDispatcher()
    events = await ValidateIdentifyForm().run(
        dispatcher, form_tracker("identify_form", "customer_name", "+44 1234", slots=slots), domain
    )
    assert events == [SlotSet("customer_name", None)]
    assert texts(dispatcher) == ["Sorry, I didn't catch a name there."]


@pytest.mark.parametrize(
    ("text", "name"),
    [("Ana", "Ana"), ("my name is ana silva", "Ana Silva"), ("Call me McKenzie", "McKenzie"),
     ("ana@example.com", None), ("", None)],
)
def test_name_from_text(text: str, name: str | None) -> None:
    assert name_from_text(text) == name


async def test_a_returning_customer_is_welcomed_back_and_the_conversation_linked(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    ana = _customer(sessions, email="ana@example.com", name="Ana")
    with sessions.begin() as session:
        conversations.get_or_create(session=session, conversation_id="web-abc123")
        interactions.record(session=session, conversation_id="web-abc123", direction="inbound",
                            author="customer", text="I need to change my phone number")
    dispatcher = CollectingDispatcher()
    events = await ActionIdentifyCustomer().run(
        dispatcher,
        tracker(sender_id="web-abc123", slots={"email": "ana@example.com", "customer_name": "Ana"},
                text="ana@example.com", metadata={"channel": "web"}),
        domain,
    )
    assert events == [
        SlotSet("customer_id", ana),
        SlotSet("customer_name", "Ana"),
        SlotSet("email", "ana@example.com"),
        SlotSet("identified", True),
    ]
    assert texts(dispatcher) == ["Welcome back, Ana!"]
    with sessions() as session:
        linked = conversations.get_or_raise(session=session, conversation_id="web-abc123")
        assert linked.customer_id == ana
        [earlier] = interactions.list_for_conversation(session=session,
                                                       conversation_id="web-abc123")
        assert earlier.customer_id == ana  # back-filled
        known = customers.find_by_identity(session=session, channel="web", external_id="abc123")
        assert known is not None and known.id == ana


async def test_a_new_customer_is_created_with_their_name(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionIdentifyCustomer().run(
        dispatcher,
        tracker(sender_id="rest-1",
                slots={"email": "bob@example.com", "customer_name": "Bob Marley"}),
        domain,
    )
    with sessions() as session:
        bob = customers.get_by_email(session=session, email="bob@example.com")
        assert bob is not None and bob.name == "Bob Marley"
        linked = conversations.get_or_raise(session=session, conversation_id="rest-1")
        assert linked.customer_id == bob.id
        # A REST sender id is not a personal identity: nothing is attached for it.
        assert customers.find_by_identity(session=session, channel="rest", external_id="1") is None
    assert events == [
        SlotSet("customer_id", bob.id),
        SlotSet("customer_name", "Bob Marley"),
        SlotSet("email", "bob@example.com"),
        SlotSet("identified", True),
    ]
    assert texts(dispatcher) == ["Thanks, Bob — nice to meet you."]  # first name only
