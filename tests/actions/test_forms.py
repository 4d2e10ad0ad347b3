"""Form replies read as a person would: questions answered, back-outs honoured, corrections."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.forms import backs_out, question_shaped
from actions.identify import ValidateIdentifyForm, strict_name
from actions.profile import ValidateUpdateDetailsForm, address_from_text
from actions.sales import ValidateLeadForm, company_from_text, corrections
from tests.actions.conftest import form_tracker, texts


@pytest.mark.parametrize(("text", "leaving"), [
    ("hmm actually no, we're moving next month", True), ("no thanks, that's all I needed", True),
    ("never mind", True), ("forget it", True), ("no", True), ("cancel", True),
    ("well, no", True), ("nah, not now", True),
    ("I can't cancel my subscription", False), ("no budget yet", False),
    ("No, my files won't sync", False), ("no, it's +44 20 7946 0958", False),
    ("I don't want to lose my files", False), ("12 Baker Street", False),
])
def test_backing_out(text: str, leaving: bool) -> None:
    assert backs_out(text) is leaving


@pytest.mark.parametrize(("text", "question"), [
    ("what would Business cost for 25 of us per month?", True), ("how much is pro", True),
    ("$500?", True), ("Acme Ltd", False), ("about 25 people", False),
])
def test_question_shape(text: str, question: bool) -> None:
    assert question_shaped(text) is question


@pytest.mark.parametrize(("text", "address"), [
    ("12 Baker Street, London NW1 6XE", "12 Baker Street, London NW1 6XE"),
    ("my new address is Hauptstraße 5, 10115 Berlin", "Hauptstraße 5, 10115 Berlin"),
    ("Rua Augusta, Lisboa", "Rua Augusta, Lisboa"),
    ("we're moving next month", None), ("hmm", None), ("is this an address?", None),
])
def test_an_address_must_look_like_one(text: str, address: str | None) -> None:
    assert address_from_text(text) == address


def test_corrections_of_other_lead_details() -> None:
    assert corrections("that was a question, our budget is about 400 dollars", "timeline") == {
        "budget": "$400"}
    assert corrections("actually we're 30 people, not 25", "budget") == {
        "company_size": "30 people"}
    assert corrections("actually the enterprise plan", "budget") == {
        "lead_interest": "Enterprise plan"}
    assert corrections("next month", "timeline") == {}
    # At the company prompt an amount is the budget, even without the word "budget".
    assert corrections("about 400 dollars", "company") == {"budget": "$400"}
    assert corrections("Studio 54", "company") == {}


async def test_an_amount_at_the_company_prompt_is_the_budget_not_the_company(
    domain: dict[str, Any],
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateLeadForm().run(
        dispatcher,
        form_tracker("lead_form", "company", "about 400 dollars",
                     slots={"lead_interest": "Business plan", "company_size": "5 people"}),
        domain,
    )
    assert SlotSet("company", None) in events
    assert SlotSet("budget", "$400") in events


async def test_backing_out_of_a_form_ends_it_with_nothing_stored(domain: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateUpdateDetailsForm().run(
        dispatcher,
        form_tracker("update_details_form", "address", "hmm actually no, we're moving next month",
                     slots={"detail_field": "address"}),
        domain,
    )
    assert SlotSet("address", None) in events
    assert SlotSet("form_cancelled", True) in events
    assert events[-1] == SlotSet("requested_slot", None)
    assert dispatcher.messages == []


async def test_a_head_count_is_not_a_budget_but_corrects_the_size(domain: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateLeadForm().run(
        dispatcher,
        form_tracker("lead_form", "budget", "actually we're 30 people, not 25",
                     slots={"lead_interest": "a demo", "company_size": "25 people",
                            "company": "Acme"}),
        domain,
    )
    assert SlotSet("budget", None) in events
    assert SlotSet("company_size", "30 people") in events
    assert texts(dispatcher) == ["Got it — I've changed the company size to 30 people."]


async def test_no_to_the_budget_question_is_an_answer(domain: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateLeadForm().run(
        dispatcher, form_tracker("lead_form", "budget", "no", slots={"company": "Acme"}), domain)
    assert SlotSet("budget", "not decided yet") in events
    assert SlotSet("form_cancelled", True) not in events


async def test_an_invalid_email_says_what_it_should_look_like(domain: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateIdentifyForm().run(
        dispatcher, form_tracker("identify_form", "email", "jo at example"), domain)
    assert SlotSet("email", None) in events
    assert "name@example.com" in texts(dispatcher)[0]


@pytest.mark.parametrize(("text", "name"), [
    ("I'm Dana Scully", "Dana Scully"), ("Kim Lee", "Kim Lee"), ("José García", "José García"),
    ("I'm so frustrated", None), ("Good Morning", None), ("Thank You", None), ("Hi", None),
    ("dana scully", None),
])
def test_a_strict_name_is_unmistakable(text: str, name: str | None) -> None:
    assert strict_name(text) == name


async def test_a_name_the_nlu_called_a_complaint_still_fills_the_slot(
    domain: dict[str, Any]
) -> None:
    """The mapping skips `complain`, so nothing was extracted; the safety net takes the name."""
    latest = {"text": "I'm Dana Scully", "intent": {"name": "complain", "confidence": 0.93},
              "entities": [], "metadata": {}}
    tracker = Tracker.from_dict({
        "sender_id": "web-x", "slots": {"email": "dana@acme.io", "requested_slot": "customer_name"},
        "latest_message": latest,
        "events": [{"event": "action", "name": "action_listen"},
                   {"event": "user", "text": "I'm Dana Scully", "parse_data": latest}],
        "active_loop": {"name": "identify_form"}, "latest_action_name": "action_listen",
    })
    dispatcher = CollectingDispatcher()
    events = await ValidateIdentifyForm().run(dispatcher, tracker, domain)
    assert SlotSet("customer_name", "Dana Scully") in events
    assert dispatcher.messages == []


@pytest.mark.parametrize("text", ["¿cuánto cuesta Business?", "cómo cancelo mi plan",
                                  "wie viel kostet Pro", "combien coûte Pro",
                                  "quanto custa o Pro", "专业版多少钱", "可以退款吗"])
def test_questions_in_the_other_languages_are_question_shaped(text: str) -> None:
    assert question_shaped(text)


@pytest.mark.parametrize("text", ["Ana Silva", "Calle Mayor 5", "王伟", "Hauptstraße 5"])
def test_answers_in_the_other_languages_are_not(text: str) -> None:
    assert not question_shaped(text)


@pytest.mark.parametrize("text", ["olvídalo", "no, gracias", "vergiss es", "nein",
                                  "laisse tomber", "non merci", "esquece", "não", "算了",
                                  "取消吧", "不用了"])
def test_backing_out_in_the_other_languages(text: str) -> None:
    assert backs_out(text)


@pytest.mark.parametrize(("text", "company"), [
    ("its for my ngo, Helping Hands", "Helping Hands"), ("Acme Ltd", "Acme Ltd"),
    ("we're called Blue Fox", "Blue Fox"), ("our company is Acme", "Acme"),
    ("just me", "no company (individual)"), ("what do you need that for?", None),
    # Another lead detail is not a company's name; names with numbers still are.
    ("about 400 dollars", None), ("$500 a month", None), ("we are 25 people", None),
    ("a team of 12", None), ("Team 17", "Team 17"), ("3M", "3M"), ("Studio 54", "Studio 54"),
])
def test_the_company_is_read_out_of_a_sentence(text: str, company: str | None) -> None:
    assert company_from_text(text) == company
