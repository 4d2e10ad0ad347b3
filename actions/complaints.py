"""Complaints: an apology first, then a person — at once when the customer insists.

A first, mild complaint gets an apology, the FAQ's answer when there is a confident one, and the
offer of a person ("yes" then hands off). A billing dispute, a customer who insists ("NOW",
"I want a manager") or a second complaint in the conversation goes to a person immediately,
with a case whose reason says why (actions/tone.py).

A complaint the rules hand here while a form is open (the form's own validation did not see it,
e.g. at identify_form's code prompt) ends the form first, so that the customer's "yes" answers
the offer of a person, not the form's question.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.forms import latest_text
from actions.runtime import services
from actions.tasks import IDENTITY_SLOTS, TASK_SLOTS
from actions.tone import Tone, reason_for, tone_of

APOLOGY = "I'm really sorry about this — that's not the experience we want you to have."
DISPUTE_APOLOGY = ("I'm very sorry about the charge. A billing question like this needs a "
                   "person who can see your payments, so I'm bringing in our team.")


def end_open_form(tracker: Tracker) -> list[EventType]:
    """Events that close the form the complaint interrupted and forget its task, if one is
    open."""
    if not tracker.active_loop_name:
        return []
    slots = TASK_SLOTS if tracker.get_slot("identified") else (*TASK_SLOTS, *IDENTITY_SLOTS)
    return [ActiveLoop(None), SlotSet("requested_slot", None),
            *(SlotSet(slot, None) for slot in slots
              if tracker.get_slot(slot) not in (None, False))]


class ActionHandleComplaint(Action):
    """Apologise; hand off at once on a dispute, insistence or repeat, else offer a person."""

    def name(self) -> str:
        return "action_handle_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = latest_text(tracker)
        tone = tone_of(text)
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if intent == "complain" and not tone.upset:
            tone = Tone(frustrated=True, billing_dispute=False, insists=tone.insists)
        complaints = int(tracker.get_slot("complaints") or 0) + 1
        counted: list[EventType] = [*end_open_form(tracker), SlotSet("complaints", complaints)]
        if tone.billing_dispute or tone.insists or complaints >= 2:
            dispatcher.utter_message(text=DISPUTE_APOLOGY if tone.billing_dispute else APOLOGY)
            return [*counted, SlotSet("handoff_reason", reason_for(tone, complaints=complaints)),
                    FollowupAction("action_handoff")]
        answer = _confident_answer(text)
        dispatcher.utter_message(text=APOLOGY + (f" {answer}" if answer else ""))
        dispatcher.utter_message(
            text="Would you like me to bring in a person from our support team?",
            buttons=[{"title": "Yes, a person please", "payload": "/affirm"},
                     {"title": "No, thanks", "payload": "/deny"}],
        )
        return [*counted, SlotSet("human_offered", True),
                SlotSet("handoff_reason", reason_for(tone, complaints=complaints))]


def _confident_answer(text: str) -> str | None:
    decision = services().faq.decide(text)
    if decision.kind == "answer" and decision.hits[0].score >= 0.9:
        return decision.hits[0].answer
    return None
