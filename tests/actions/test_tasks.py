"""action_clear_task: an abandoned form's answers are forgotten, a finished identification kept."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.tasks import ActionClearTask
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
