"""validate_update_details_form and action_save_details against a real CRM database."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session, sessionmaker

from actions.profile import ActionSaveDetails, ValidateUpdateDetailsForm, field_from_text
from crm_store import customers
from tests.actions.conftest import form_tracker, said, texts, tracker, verify

FORM = "update_details_form"


@pytest.mark.parametrize(
    ("text", "field"),
    [("phone", "phone"), ("my mobile number", "phone"), ("the address", "address"),
     ("I moved", "address"), ("my email address", None), ("both", None)],
)
def test_field_from_text(text: str, field: str | None) -> None:
    assert field_from_text(text) == field


async def test_the_chosen_field_is_asked_next(domain: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateUpdateDetailsForm().run(
        dispatcher, form_tracker(FORM, "detail_field", "my mobile"), domain
    )
    assert events == [SlotSet("detail_field", "phone"), SlotSet("requested_slot", "phone")]


async def test_an_unknown_field_is_asked_again(domain: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateUpdateDetailsForm().run(
        dispatcher, form_tracker(FORM, "detail_field", "my shoe size"), domain
    )
    assert events == [SlotSet("detail_field", None), SlotSet("requested_slot", "detail_field")]
    assert texts(dispatcher) == [
        "I can update your phone number or your address."
    ]


async def test_a_bad_phone_number_is_asked_again_with_the_reason(domain: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateUpdateDetailsForm().run(
        dispatcher, form_tracker(FORM, "phone", "0791 12", slots={"detail_field": "phone"}), domain
    )
    assert events == [SlotSet("phone", None), SlotSet("requested_slot", "phone")]
    [message] = texts(dispatcher)
    assert message.startswith(
        "'0791 12' is not a phone number (start with + and the country code)."
    )
    # The reason only: the form's utter_ask_phone asks again (with an example), not this.
    assert "?" not in message


async def test_a_phone_number_is_stored_in_e164(domain: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateUpdateDetailsForm().run(
        dispatcher,
        form_tracker(FORM, "phone", "my new number is 0044 7911 123456",
                     slots={"detail_field": "phone"}),
        domain,
    )
    # The change is read back before it is written.
    assert events == [SlotSet("phone", "+447911123456"),
                      SlotSet("requested_slot", "confirm_details")]
    assert dispatcher.messages == []


async def test_an_address_must_say_something(domain: dict[str, Any]) -> None:
    slots = {"detail_field": "address"}
    dispatcher = CollectingDispatcher()
    events = await ValidateUpdateDetailsForm().run(
        dispatcher, form_tracker(FORM, "address", "  x ", slots=slots), domain
    )
    assert events == [SlotSet("address", None), SlotSet("requested_slot", "address")]
    assert len(dispatcher.messages) == 1

    dispatcher = CollectingDispatcher()
    events = await ValidateUpdateDetailsForm().run(
        dispatcher,
        form_tracker(FORM, "address", "My new address is Rua do Ouro 20, Lisboa", slots=slots),
        domain,
    )
    assert events == [SlotSet("address", "Rua do Ouro 20, Lisboa"),
                      SlotSet("requested_slot", "confirm_details")]


async def test_the_new_phone_number_is_saved_on_the_customer(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    with sessions.begin() as session:
        ana = customers.create(
            session=session, actor="test", email="ana@example.com", name="Ana"
        ).id
    verify(sessions, "rest-test", ana)
    dispatcher = CollectingDispatcher()
    events = await ActionSaveDetails().run(
        dispatcher,
        tracker(slots={"customer_id": ana, "detail_field": "phone", "phone": "+447911123456",
                       "pending_task": "update_details"}),
        domain,
    )
    assert events == [SlotSet("detail_field", None), SlotSet("phone", None),
                      SlotSet("address", None), SlotSet("confirm_details", None),
                      SlotSet("pending_task", None), SlotSet("form_cancelled", False),
                      SlotSet("form_escalated", False)]
    assert texts(dispatcher) == ["Done — your phone number is now +447911123456."]
    with sessions() as session:
        assert customers.get_or_raise(session=session, customer_id=ana).phone == "+447911123456"


@pytest.mark.parametrize("slots", [{}, {"customer_id": "ANA", "identified": True,
                                       "verified": True}])
async def test_nothing_is_saved_unless_the_crm_says_verified(
    sessions: sessionmaker[Session], domain: dict[str, Any], slots: dict[str, Any]
) -> None:
    """Slots (claimed, or forged in a tracker) never change a record: the CRM decides."""
    with sessions.begin() as session:
        ana = customers.create(session=session, actor="test", email="ana@example.com").id
    slots = {key: ana if value == "ANA" else value for key, value in slots.items()}
    dispatcher = CollectingDispatcher()
    events = await ActionSaveDetails().run(
        dispatcher, tracker(slots={"detail_field": "address", "address": "Rua do Ouro 20",
                                   **slots}), domain
    )
    assert events == [SlotSet("detail_field", None), SlotSet("phone", None),
                      SlotSet("address", None), SlotSet("confirm_details", None),
                      SlotSet("pending_task", None), SlotSet("form_cancelled", False),
                      SlotSet("form_escalated", False)]
    assert said(dispatcher) == ["utter_not_verified"]
    with sessions() as session:
        assert customers.get_or_raise(session=session, customer_id=ana).address is None


def _activation_tracker(*user_turns: tuple[str, str],
                        slots: dict[str, Any] | None = None) -> Tracker:
    """The tracker update_details_form's validation sees when the form is activated."""
    events: list[dict[str, Any]] = []
    for text, intent in user_turns:
        parse = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
        events += [{"event": "action", "name": "action_listen"},
                   {"event": "user", "text": text, "parse_data": parse}]
    events.append({"event": "action", "name": FORM})
    return Tracker.from_dict({"sender_id": "rest-test",
                              "slots": {"identified": True, **(slots or {})},
                              "latest_message": events[-2]["parse_data"], "events": events,
                              "active_loop": {"name": FORM}, "latest_action_name": FORM})


async def test_the_field_named_in_the_request_is_not_asked_again(domain: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    tracker_ = _activation_tracker(("I have a new mobile number", "update_details"))
    events = await ValidateUpdateDetailsForm().run(dispatcher, tracker_, domain)
    assert events == [SlotSet("detail_field", "phone"), SlotSet("requested_slot", "phone")]


async def test_the_request_is_found_behind_the_identification_turns(
    domain: dict[str, Any],
) -> None:
    dispatcher = CollectingDispatcher()
    tracker_ = _activation_tracker(("please change my address", "update_details"),
                                   ("ana@example.com", "inform"))
    events = await ValidateUpdateDetailsForm().run(dispatcher, tracker_, domain)
    assert events == [SlotSet("detail_field", "address"), SlotSet("requested_slot", "address")]


@pytest.mark.parametrize(("request_", "field", "value"), [
    ("I want to change my phone number to +44 7911 123456", "phone", "+447911123456"),
    ("update my address to 10 Downing Street, London SW1A 2AA", "address",
     "10 Downing Street, London SW1A 2AA"),
    ("cambia mi teléfono a +34 612 345 678", "phone", "+34612345678"),
    ("meine neue Adresse ist Hauptstraße 5, 10115 Berlin", "address",
     "Hauptstraße 5, 10115 Berlin"),
    ("update my address in the app to 5 Main Street", "address", "5 Main Street"),
])
async def test_a_value_given_with_the_request_is_read_back_not_asked_for(
    domain: dict[str, Any], request_: str, field: str, value: str,
) -> None:
    """"update my address to 10 Downing Street…" asked "What's the new address?" after the
    verification, and the address given was lost (found by the exploratory helper)."""
    dispatcher = CollectingDispatcher()
    tracker_ = _activation_tracker((request_, "update_details"), ("ana@example.com", "inform"))
    events = await ValidateUpdateDetailsForm().run(dispatcher, tracker_, domain)
    assert events == [SlotSet("detail_field", field), SlotSet(field, value),
                      SlotSet("requested_slot", "confirm_details")]
    # The request's entity may have named the field already (Rasa's slot mapping): the value
    # is still read (in a real conversation it was asked for again).
    tracker_ = _activation_tracker((request_, "update_details"), ("ana@example.com", "inform"),
                                   slots={"detail_field": field})
    events = await ValidateUpdateDetailsForm().run(dispatcher, tracker_, domain)
    assert events == [SlotSet(field, value), SlotSet("requested_slot", "confirm_details")]


async def test_a_request_without_a_field_asks_which_one(domain: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    tracker_ = _activation_tracker(("I need to update my details", "update_details"))
    events = await ValidateUpdateDetailsForm().run(dispatcher, tracker_, domain)
    assert events == [SlotSet("requested_slot", "detail_field")]


@pytest.mark.parametrize(("text", "field"), [
    ("quiero cambiar mi teléfono", "phone"), ("meine neue Handynummer", "phone"),
    ("我的手机号", "phone"), ("mon adresse", "address"), ("me mudei, novo endereço", "address"),
    ("更新地址", "address"), ("mon courriel", None), ("我的邮箱", None),
])
def test_the_detail_is_named_in_any_language(text: str, field: str | None) -> None:
    assert field_from_text(text) == field


def test_chinese_addresses_and_a_yes_in_each_language() -> None:
    from actions.profile import address_from_text, says_yes

    assert address_from_text("上海市南京东路100号") == "上海市南京东路100号"
    assert address_from_text("我的地址是北京市朝阳区建国路") == "北京市朝阳区建国路"
    assert address_from_text("mi dirección es Calle Mayor 5, Madrid") == "Calle Mayor 5, Madrid"
    assert all(says_yes(t) for t in ("sí", "ja, speichern", "oui", "sim", "好的", "是的"))
    assert not any(says_yes(t) for t in ("nein", "non", "不", "não"))


@pytest.mark.parametrize(("text", "is_address"), [
    ("12 Baker Street, London NW1", True), ("Hauptstraße 5, 10115 Berlin", True),
    ("calle Mayor 3, 28013 Madrid", True), ("北京市朝阳区建国路88号", True),
    ("my sync stopped at 5pm", False), ("I cant log in", False),
    ("how do I change my address to 12 Baker Street?", False),  # a question
    ("Baker Street", False),  # no number: a place, not an address to keep
])
def test_a_message_that_is_only_a_street_address(text: str, is_address: bool) -> None:
    from actions.profile import looks_like_street_address

    assert looks_like_street_address(text) is is_address


@pytest.mark.parametrize(("text", "address"), [
    ("no wait, it's 221B Baker Street, London NW1 6XE", "221B Baker Street, London NW1 6XE"),
    ("sorry, my address is Flat 2, 10 Downing Street, London", "Flat 2, 10 Downing Street, London"),
    ("actually it's 5 High St, Leeds", "5 High St, Leeds"),
    ("No. 5 Main Street, Springfield", "No. 5 Main Street, Springfield"),  # "No." is its number
])
async def test_a_corrected_address_at_the_read_back_is_stored_without_the_correction(
    domain: dict[str, Any], text: str, address: str,
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateUpdateDetailsForm().run(dispatcher, form_tracker(
        FORM, "confirm_details", text,
        slots={"detail_field": "address", "address": "12 Baker Street, London NW1"}), domain)
    assert SlotSet("address", address) in events
    assert SlotSet("requested_slot", "confirm_details") in events  # read back again


async def test_a_mistyped_new_number_at_the_read_back_is_refused_with_the_reason(
    domain: dict[str, Any],
) -> None:
    """Not "shall I save it? yes or no" about the old number, as if nothing was said."""
    dispatcher = CollectingDispatcher()
    events = await ValidateUpdateDetailsForm().run(dispatcher, form_tracker(
        FORM, "confirm_details", "oops, I mean +44 7911 654321",
        slots={"detail_field": "phone", "phone": "+447911123456"}), domain)
    assert said(dispatcher) == ["utter_hint_phone"]
    assert "'+44 7911 654321' is not a valid phone number." in dispatcher.messages[0]["error"]
    assert SlotSet("phone", "+447911123456") not in events and not any(
        e["event"] == "slot" and e["name"] == "phone" for e in events)


@pytest.mark.parametrize(("confidence", "response"), [
    (0.80, "utter_hint_address"),  # the NLU unsure: the prompt's hint
    (0.99, "utter_in_form_bot_challenge"),  # sure: answered in kind, then asked again
])
async def test_unsure_small_talk_at_the_address_prompt_gets_the_hint(
    domain: dict[str, Any], confidence: float, response: str,
) -> None:
    """After a retrain "we are moving soon" read as bot_challenge at 0.80 and got "I'm Relay,
    a virtual assistant" instead of "that doesn't look like an address"."""
    t = form_tracker(FORM, "address", "we are moving soon", slots={"detail_field": "address"})
    t.latest_message["intent"] = {"name": "bot_challenge", "confidence": confidence}
    dispatcher = CollectingDispatcher()
    events = await ValidateUpdateDetailsForm().run(dispatcher, t, domain)
    assert said(dispatcher) == [response]
    assert SlotSet("address", None) in events


@pytest.mark.usefixtures("faq_services")
async def test_the_email_is_not_a_detail_of_this_form_and_how_to_change_it_is_said(
    domain: dict[str, Any],
) -> None:
    """"my email address" at "phone or address?" started the address form (its entity said
    "address"); "I'd like to update my email to …" asked for a phone number (found by the
    exploratory helper). The login email is changed in the settings: that is said."""
    from actions.forms import CANCELLED
    from actions.tasks import ActionStartTask

    dispatcher = CollectingDispatcher()
    events = await ValidateUpdateDetailsForm().run(
        dispatcher, form_tracker(FORM, "detail_field", "my email address"), domain)
    assert [m.get("faq_entry_id") for m in dispatcher.messages] == ["change-email"]
    assert SlotSet(CANCELLED, True) in events
    dispatcher = CollectingDispatcher()
    events = await ActionStartTask().run(dispatcher, tracker(
        text="I'd like to update my email to ada.new@example.com", intent="update_details",
        confidence=0.99), domain)
    assert [m.get("faq_entry_id") for m in dispatcher.messages] == ["change-email"]
    assert SlotSet("pending_task", None) in events and events[-1]["name"] == "action_listen"
    dispatcher = CollectingDispatcher()  # the phone is a detail, email or not
    events = await ActionStartTask().run(dispatcher, tracker(
        text="update my email and phone number", intent="update_details", confidence=0.99),
        domain)
    assert dispatcher.messages == []
