"""action_clear_task: an abandoned form's answers are forgotten, a finished identification kept;
action_start_task: a question that only reads as a task start is answered instead."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.tasks import ActionClearTask, ActionStartTask
from tests.actions.conftest import tracker


async def test_a_stopped_lead_form_forgets_its_answers_but_not_the_customer(
    domain: dict[str, Any],
) -> None:
    dispatcher = CollectingDispatcher()
    slots = {"identified": True, "customer_id": 7, "email": "dana@acme.io",
             "customer_name": "Dana", "lead_interest": "Enterprise plan",
             "company_size": "60 people", "pending_task": "sales"}
    events = await ActionClearTask().run(dispatcher, tracker(slots=slots, intent="stop"), domain)
    assert events == [SlotSet("lead_interest", None), SlotSet("company_size", None),
                      SlotSet("pending_task", None)]
    assert dispatcher.messages == []


async def test_a_stopped_identification_forgets_the_half_given_identity(
    domain: dict[str, Any],
) -> None:
    dispatcher = CollectingDispatcher()
    slots = {"identified": False, "email": "bob@example.com", "pending_task": "check_cases"}
    events = await ActionClearTask().run(dispatcher, tracker(slots=slots, intent="stop"), domain)
    assert events == [SlotSet("pending_task", None), SlotSet("email", None)]


@pytest.mark.usefixtures("faq_services")
@pytest.mark.parametrize(("text", "intent", "confidence", "language", "entry"), [
    # The NLU sure of the task (the Spanish question in langbench: update_details at 0.9998).
    ("¿Puedo cambiar el correo electrónico de mi cuenta?", "update_details", 0.9998, "es",
     "change-email"),
    ("Wie ändere ich die E-Mail-Adresse meines Kontos?", "update_details", 0.9998, "de",
     "change-email"),
    ("¿cómo restablezco mi contraseña?", "report_problem", 0.9998, "es", "reset-password"),
    ("Comment ajouter un nouvel utilisateur à notre compte Business ?", "report_problem",
     0.9998, "fr", "add-team-members"),
    # Case status only when the NLU hesitates (langbench: 0.72).
    ("meu armazenamento está cheio, e agora?", "check_case_status", 0.72, "pt", "storage-full"),
])
async def test_a_question_in_another_language_is_answered_not_started_as_a_task(
    domain: dict[str, Any], text: str, intent: str, confidence: float, language: str,
    entry: str,
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionStartTask().run(
        dispatcher, tracker(text=text, intent=intent, slots={"language": language},
                            confidence=confidence), domain)
    assert [m.get("faq_entry_id") for m in dispatcher.messages] == [entry]
    assert SlotSet("pending_task", None) in events
    assert events[-1] == FollowupAction("action_listen")


@pytest.mark.usefixtures("faq_services")
@pytest.mark.parametrize(("text", "intent", "language"), [
    ("¿cómo va mi caso?", "check_case_status", "es"),  # asking about one's cases is the task
    ("meu armazenamento está cheio, e agora?", "check_case_status", "pt"),  # ...the NLU sure
    ("Kann ich meine Telefonnummer ändern?", "update_details", "de"),  # near the email entry
    ("quiero cambiar mi número de teléfono", "update_details", "es"),  # not a question
    ("can I change the phone number of my account?", "update_details", "en"),  # the NLU's call
])
async def test_a_task_start_is_left_to_the_task(
    domain: dict[str, Any], text: str, intent: str, language: str,
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionStartTask().run(
        dispatcher, tracker(text=text, intent=intent, slots={"language": language},
                            confidence=0.9998), domain)
    assert dispatcher.messages == []
    assert events == [SlotSet("verified", False)]


@pytest.mark.usefixtures("faq_services")
@pytest.mark.parametrize(("text", "language", "entry"), [
    # a question the NLU is sure is a sales request: the FAQ's answer, then sales are offered
    ("we're a team of 12, thinking about business plan, what would it cost?", "en",
     "business-price"),
    # a person refused, then a price asked without a question mark
    ("Não quero falar com uma pessoa, só quero saber o preço do Business", "pt",
     "business-price"),
])
async def test_a_question_put_as_a_sales_request_is_answered_and_sales_offered(
    domain: dict[str, Any], text: str, language: str, entry: str,
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionStartTask().run(
        dispatcher, tracker(text=text, intent="request_sales", slots={"language": language},
                            confidence=0.9998), domain)
    assert [m.get("faq_entry_id") for m in dispatcher.messages] == [entry, None]
    assert dispatcher.messages[-1]["response"] == "utter_offer_sales"
    assert events[-1] == FollowupAction("action_listen")


@pytest.mark.usefixtures("faq_services")
@pytest.mark.parametrize("text", [
    "I'd like to talk to sales about a plan for 50 people",
    "can someone from sales call me about enterprise pricing for 300 seats?",
    "can I talk to your sales team?",  # near support hours (0.64): not sure enough
])
async def test_a_plain_sales_request_starts_the_lead(domain: dict[str, Any], text: str) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionStartTask().run(
        dispatcher, tracker(text=text, intent="request_sales", confidence=0.9998), domain)
    assert dispatcher.messages == []
    assert events == [SlotSet("verified", False)]


def _turn(text: str, intent: str, action: str, messages: list[dict[str, Any]],
          events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A turn as Rasa's tracker holds it: the customer's message, the action, its events and
    what it said (an answer's bot event names its FAQ entry in its metadata)."""
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.99}, "entities": []}
    said = [{"event": "bot", "text": m.get("text"),
             "metadata": {k: v for k, v in m.items() if k == "faq_entry_id"}} for m in messages]
    return [{"event": "action", "name": "action_listen"},
            {"event": "user", "text": text, "parse_data": parse},
            {"event": "action", "name": action},
            *[e for e in events if e["event"] == "slot"], *said]


@pytest.mark.usefixtures("faq_services")
async def test_a_follow_up_after_the_offer_of_sales_keeps_it_and_yes_reaches_sales(
    domain: dict[str, Any],
) -> None:
    """"we're a team of 25, how much would business cost us?" (answered, sales offered), "and
    per year?" got the whole Business answer again without the offer, and "yes" then got
    "anything else?" instead of sales (found by the exploratory helper)."""
    from actions.faq import ActionAnswerFaq
    from actions.tasks import ActionAcceptOffer

    first = "we're a team of 25, how much would business cost us?"
    dispatcher = CollectingDispatcher()
    events = await ActionStartTask().run(dispatcher, tracker(
        text=first, intent="request_sales", confidence=0.99), domain)
    answer = dispatcher.messages[0]["text"]
    assert dispatcher.messages[-1]["response"] == "utter_offer_sales"
    before = _turn(first, "request_sales", "action_start_task", dispatcher.messages, events)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}

    dispatcher = CollectingDispatcher()
    events = await ActionAnswerFaq().run(dispatcher, tracker(
        text="and per year?", intent="ask_question", slots=slots, before=before), domain)
    again, offer = dispatcher.messages
    assert offer["response"] == "utter_offer_sales"
    # the part with the yearly price, as such, not the same answer twice
    assert again["response"] == "utter_answer_again"
    assert "per year" in again["answer"] and again["answer"] != answer
    before += _turn("and per year?", "ask_question", "action_answer_faq", dispatcher.messages,
                    events)
    slots |= {e["name"]: e["value"] for e in events if e["event"] == "slot"}

    dispatcher = CollectingDispatcher()
    events = await ActionAcceptOffer().run(dispatcher, tracker(
        text="yes", intent="affirm", slots=slots, before=before), domain)
    assert FollowupAction("identify_form") in events
