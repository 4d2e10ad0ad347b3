"""validate_lead_form's normalisation and action_submit_lead against a real CRM database."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session, sessionmaker

from actions.sales import (
    ActionSubmitLead,
    ValidateLeadForm,
    budget_from_text,
    company_size_from_text,
    interest_from_text,
    timeline_from_text,
)
from crm_store import customers, leads
from tests.actions.conftest import form_tracker, texts, tracker, verify

RESET = [SlotSet("lead_interest", None), SlotSet("company_size", None), SlotSet("company", None),
         SlotSet("budget", None), SlotSet("timeline", None), SlotSet("pending_task", None),
         SlotSet("form_cancelled", False),
                      SlotSet("form_escalated", False)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("the Business plan", "Business plan"), ("a demo of Enterprise", "Enterprise plan (demo)"),
     ("secure file storage", "secure file storage"), ("?", None)],
)
def test_interest_from_text(text: str, expected: str | None) -> None:
    assert interest_from_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("about 40 people", "40 people"), ("50-100", "50-100 people"), ("2k employees", "2000 people"),
     ("forty", "40 people"), ("just me", "1 person"), ("lots", None),
     # A negative count is no head count (it was read as its digits: "-5" → "5 people").
     ("-5", None), ("we are -3", None), ("minus 5", None), ("5 - 10", "5-10 people")],
)
def test_company_size_from_text(text: str, expected: str | None) -> None:
    assert company_size_from_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("around 800 euros a month", "€800 per month"), ("$2,000 per year", "$2000 per year"),
     ("5k a year", "5000 per year"), ("€1,200/mo", "€1200 per month"),
     ("not sure yet", "not decided yet"), ("whatever works", None),
     ("-500 dollars", None), ("$-500", None), ("5k-10k a year", "5000 per year")],
)
def test_budget_from_text(text: str, expected: str | None) -> None:
    assert budget_from_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("next month", "next month"), ("in q3 2027", "Q3 2027"), ("ASAP", "as soon as possible"),
     ("within 2 weeks", "within 2 weeks"), ("just exploring", "just exploring"), ("blue", None)],
)
def test_timeline_from_text(text: str, expected: str | None) -> None:
    assert timeline_from_text(text) == expected


async def test_a_budget_given_at_the_companys_prompt_is_said_back(domain: dict[str, Any]) -> None:
    """"about €300 a month" at "what's your company?" is the budget, not a company; it was
    stored silently, and the budget's question never came: the customer could not tell."""
    dispatcher = CollectingDispatcher()
    events = await ValidateLeadForm().run(
        dispatcher, form_tracker("lead_form", "company", "about €300 a month"), domain)
    assert SlotSet("budget", "€300 per month") in events
    assert SlotSet("company", None) in events  # asked again
    assert [m.get("response") for m in dispatcher.messages] == ["utter_noted_budget"]
    assert dispatcher.messages[0]["value"] == "€300 per month"
    # Given again, differently, once it is known: changed.
    dispatcher = CollectingDispatcher()
    await ValidateLeadForm().run(dispatcher, form_tracker(
        "lead_form", "company", "about €500 a month", slots={"budget": "€300 per month"}), domain)
    assert [m.get("response") for m in dispatcher.messages] == ["utter_changed_budget"]


async def test_an_unclear_budget_is_asked_again_with_examples(domain: dict[str, Any]) -> None:
    # The validator says what was wrong; the form's utter_ask_budget asks again with examples.
    dispatcher = CollectingDispatcher()
    events = await ValidateLeadForm().run(
        dispatcher, form_tracker("lead_form", "budget", "whatever works"), domain
    )
    assert events == [SlotSet("budget", None)]
    assert texts(dispatcher) == ["I couldn't find an amount in that."]
    ask = domain["responses"]["utter_ask_budget"][0]["text"]
    assert "'€500 a month'" in ask and "Not sure yet" in ask


async def test_a_company_size_is_normalised(domain: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateLeadForm().run(
        dispatcher, form_tracker("lead_form", "company_size", "we are 120 employees"), domain
    )
    assert events == [SlotSet("company_size", "120 people")]


async def test_a_repeat_request_updates_the_open_lead(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    with sessions.begin() as session:
        dana = customers.create(session=session, actor="test", email="dana@acme.io", name="Dana").id
    verify(sessions, "tg-42", dana)
    slots = {"customer_id": dana, "customer_name": "Dana", "email": "dana@acme.io",
             "lead_interest": "Business plan", "company_size": "40 people",
             "budget": "€800 per month", "timeline": "next month", "pending_task": "sales"}

    dispatcher = CollectingDispatcher()
    t = tracker(sender_id="tg-42", slots=slots, metadata={"channel": "telegram"})
    events = await ActionSubmitLead().run(dispatcher, t, domain)
    assert events == RESET
    with sessions() as session:
        [lead], total = leads.list_leads(session=session, customer_id=dana)
        assert (lead.interest, lead.company_size, lead.budget, lead.timeline, lead.source_channel,
                lead.stage) == ("Business plan", "40 people", "€800 per month", "next month",
                                "telegram", "new")
        assert customers.get_or_raise(session=session, customer_id=dana).type == "lead"
    assert texts(dispatcher, t) == [
        f"Thanks, Dana! I've passed your request to our sales team (lead #{lead.id}: Business "
        "plan, 40 people, €800 per month, next month). Someone will contact you at dana@acme.io "
        "within one business day."
    ]

    dispatcher = CollectingDispatcher()
    events = await ActionSubmitLead().run(
        dispatcher, tracker(sender_id="tg-42", slots={**slots, "company_size": "60 people"}),
        domain,
    )
    assert events == RESET
    with sessions() as session:
        [again], total = leads.list_leads(session=session, customer_id=dana)
        assert total == 1 and again.id == lead.id and again.company_size == "60 people"
    assert "updated your open request" in texts(dispatcher)[0]


async def test_an_unverified_request_is_a_new_marked_lead_and_changes_no_record(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    """Someone who only typed Dana's address opens a lead the business can tell apart; Dana's
    open lead, company and type stay as they were, and the reply tells nothing of them."""
    with sessions.begin() as session:
        dana = customers.create(session=session, actor="test", email="dana@acme.io",
                                name="Dana", company="Acme", type="customer").id
        own, _ = leads.open_or_update_lead(session=session, customer_id=dana,
                                           interest="Pro plan", changed_by="test")
        own_id = own.id
    slots = {"customer_id": dana, "customer_name": "Mallory", "email": "dana@acme.io",
             "lead_interest": "Business plan", "company_size": "40 people", "company": "Evil Co",
             "budget": "€1", "timeline": "next month", "pending_task": "sales"}
    for _ in range(2):
        dispatcher = CollectingDispatcher()
        await ActionSubmitLead().run(dispatcher, tracker(sender_id="web-x", slots=slots), domain)
        assert texts(dispatcher)[0].startswith("Thanks, Mallory! I've passed your request")
    with sessions() as session:
        found, total = leads.list_leads(session=session, customer_id=dana)
        assert total == 3
        assert sorted((lead.id == own_id, lead.unverified) for lead in found) == [
            (False, True), (False, True), (True, False)]
        assert all("Evil Co" in str(lead.interest) for lead in found if lead.unverified)
        record = customers.get_or_raise(session=session, customer_id=dana)
        assert (record.company, record.type, record.name) == ("Acme", "customer", "Dana")
        assert leads.get_or_raise(session=session, lead_id=own_id).interest == "Pro plan"


async def test_no_lead_without_an_identified_customer(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitLead().run(dispatcher, tracker(slots={"budget": "€1"}), domain)
    assert events == RESET
    assert texts(dispatcher) == ["Sorry, I lost track of who you are. Could you ask me again?"]


def _lead_form_activation(*user_turns: tuple[str, str]) -> Tracker:
    """The tracker lead_form's validation sees when the form is activated."""
    events: list[dict[str, Any]] = []
    for text, intent in user_turns:
        parse = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
        events += [{"event": "action", "name": "action_listen"},
                   {"event": "user", "text": text, "parse_data": parse}]
    events.append({"event": "action", "name": "lead_form"})
    return Tracker.from_dict({"sender_id": "rest-test", "slots": {"identified": True},
                              "latest_message": events[-2]["parse_data"], "events": events,
                              "active_loop": {"name": "lead_form"},
                              "latest_action_name": "lead_form"})


async def test_a_demo_and_a_head_count_in_the_request_are_not_asked_again(
    domain: dict[str, Any],
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateLeadForm().run(
        dispatcher,
        _lead_form_activation(("I want a demo for my team of 40", "request_sales"),
                              ("dana@acme.io", "inform"), ("Dana", "inform")),
        domain,
    )
    assert events == [SlotSet("lead_interest", "a demo"), SlotSet("company_size", "40 people")]


async def test_a_named_plan_is_taken_from_the_request(domain: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateLeadForm().run(
        dispatcher,
        _lead_form_activation(("we want to upgrade our whole team to Business", "request_sales")),
        domain,
    )
    assert events == [SlotSet("lead_interest", "Business plan")]


async def test_what_a_question_said_before_sales_were_offered_is_not_asked_again(
    domain: dict[str, Any],
) -> None:
    """"we're a team of 12, thinking about business plan" is answered with the price and an
    offer of the sales team; "yes" starts the lead form, which knows the plan and the size."""
    activation = _lead_form_activation(
        ("we're a team of 12, thinking about business plan", "ask_question"), ("yes", "affirm"))
    events = list(activation.events)
    # The bot's answer to the question offered sales (actions/faq.offer_sales).
    events.insert(2, {"event": "slot", "name": "offered_task", "value": "sales"})
    offered = Tracker.from_dict({**activation.current_state(), "events": events})
    result = await ValidateLeadForm().run(CollectingDispatcher(), offered, domain)
    assert result == [SlotSet("lead_interest", "Business plan"),
                      SlotSet("company_size", "12 people")]
    # Without the offer the same question leaves everything to ask.
    assert await ValidateLeadForm().run(CollectingDispatcher(), activation, domain) == []


async def test_a_plain_request_leaves_everything_to_ask(domain: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateLeadForm().run(
        dispatcher, _lead_form_activation(("talk to sales", "request_sales")), domain
    )
    assert events == []


@pytest.mark.parametrize(("text", "timeline"), [
    ("lo antes posible", "as soon as possible"), ("我们想尽快开始", "as soon as possible"),
    ("sin prisa, solo estoy mirando", "just exploring"), ("el mes que viene", "el mes que viene"),
    ("nächsten Monat", "nächsten Monat"), ("下个月", "下个月"), ("the weather", None),
    ("I'd like an offer", None),
])
def test_time_frames_in_any_language(text: str, timeline: str | None) -> None:
    assert timeline_from_text(text) == timeline


@pytest.mark.parametrize("text", ["no lo sé", "weiß nicht", "pas encore", "ainda não", "还不确定"])
def test_no_budget_yet_in_any_language(text: str) -> None:
    assert budget_from_text(text) == "not decided yet"


@pytest.mark.parametrize(("slot", "text", "stored"), [
    ("company_size", "idk maybe a few", "a few (no number given)"),
    ("company_size", "a bunch", "a bunch (no number given)"),
    ("company_size", "I don't know!!", "not sure yet"),
    ("company", "not sure yet", "not sure yet"),
    ("lead_interest", "no idea", "not sure yet"),
])
async def test_not_knowing_is_an_answer_and_not_junk(
    domain: dict[str, Any], slot: str, text: str, stored: str,
) -> None:
    """At the head count, "idk maybe a few", "a bunch" and "I don't know!!" each got the same
    hint, four times in a row; "not sure yet" was stored as the company's name and "no idea"
    as the plan (found by the exploratory helper)."""
    dispatcher = CollectingDispatcher()
    events = await ValidateLeadForm().run(dispatcher, form_tracker("lead_form", slot, text),
                                          domain)
    assert SlotSet(slot, stored) in events
    assert dispatcher.messages == []
