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

from actions.faq import did_not_help, not_resolved_events
from actions.forms import latest_text
from actions.languages import faq_for, language_of
from actions.tone import Tone, reason_for, tone_of


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
        if not tone.upset and did_not_help(tracker, text):
            # "I tried restarting already" after an answer: the NLU may call it a complaint,
            # but the answer not helping is what to act on (a case or a person).
            return not_resolved_events(dispatcher, tracker)
        if intent == "complain" and not tone.upset:
            tone = Tone(frustrated=True, billing_dispute=False, insists=tone.insists)
        complaints = int(tracker.get_slot("complaints") or 0) + 1
        counted = SlotSet("complaints", complaints)
        if tone.billing_dispute or tone.insists or complaints >= 2:
            dispatcher.utter_message(
                response="utter_dispute_apology" if tone.billing_dispute else "utter_apology")
            return [counted, SlotSet("handoff_reason", reason_for(tone, complaints=complaints)),
                    FollowupAction("action_handoff")]
        answer = _confident_answer(tracker, text)
        if answer is None:
            dispatcher.utter_message(response="utter_apology")
        else:
            dispatcher.utter_message(response="utter_apology_with_answer", answer=answer)
        dispatcher.utter_message(response="utter_offer_person")
        return [counted, SlotSet("human_offered", True),
                SlotSet("handoff_reason", reason_for(tone, complaints=complaints))]


def _confident_answer(tracker: Tracker, text: str) -> str | None:
    """The FAQ's answer to the complaint, in the customer's language, when it is a sure one."""
    decision = faq_for(tracker, text).decide(text)
    if decision.kind == "answer" and decision.hits[0].score >= 0.9:
        return decision.hits[0].answer_in(language_of(tracker))[0]
    return None
