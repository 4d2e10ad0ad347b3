"""Complaints: an apology first, then a person — at once when the customer insists.

A first, mild complaint gets an apology, the FAQ's answer when there is a confident one, and the
offer of a person ("yes" then hands off). A billing dispute, a customer who insists ("NOW",
"I want a manager") or a second complaint in the conversation goes to a person immediately,
with a case whose reason says why (actions/tone.py).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.forms import latest_text
from actions.runtime import services
from actions.tone import Tone, reason_for, tone_of

APOLOGY = "I'm really sorry about this — that's not the experience we want you to have."
DISPUTE_APOLOGY = ("I'm very sorry about the charge. A billing question like this needs a "
                   "person who can see your payments, so I'm bringing in our team.")


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
        counted = SlotSet("complaints", complaints)
        if tone.billing_dispute or tone.insists or complaints >= 2:
            dispatcher.utter_message(text=DISPUTE_APOLOGY if tone.billing_dispute else APOLOGY)
            return [counted, SlotSet("handoff_reason", reason_for(tone, complaints=complaints)),
                    FollowupAction("action_handoff")]
        answer = _confident_answer(text)
        dispatcher.utter_message(text=APOLOGY + (f" {answer}" if answer else ""))
        dispatcher.utter_message(
            text="Would you like me to bring in a person from our support team?",
            buttons=[{"title": "Yes, a person please", "payload": "/affirm"},
                     {"title": "No, thanks", "payload": "/deny"}],
        )
        return [counted, SlotSet("human_offered", True),
                SlotSet("handoff_reason", reason_for(tone, complaints=complaints))]


def _confident_answer(text: str) -> str | None:
    decision = services().faq.decide(text)
    if decision.kind == "answer" and decision.hits[0].score >= 0.9:
        return decision.hits[0].answer
    return None
