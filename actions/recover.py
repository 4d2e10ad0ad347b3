"""The dialogue's fallback: when no rule says what to do next, answer once and listen.

Rasa's RulePolicy predicts this action (config.yml, core_fallback_action_name) whenever no rule
matches the conversation's state — an intent in a place no rule foresaw, a form that rejected a
reply, the end of an unusual chain of actions. It is built so that it cannot loop:

* it always ends the turn: its last event is FollowupAction("action_listen") (or a handoff,
  which pauses the conversation), so Rasa never predicts it twice in a row;
* if the bot already replied in this turn it says nothing more;
* otherwise it answers the message in its context: inside a form it responds briefly and asks
  the form's question again; outside a form it answers like the FAQ action does, or hands off
  when the customer asks for a person or is upset.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import intent_of, respond_to_text
from actions.forms import latest_text
from actions.profile import ask_confirm_details
from actions.tone import tone_of

LISTEN = "action_listen"
# What to say to an intent no rule covers inside a form, before the form's question again.
IN_FORM_RESPONSES = {
    "greet": "Hi again!",
    "thank": "You're welcome!",
    "bot_challenge": "I'm Relay, a virtual assistant for Nimbus Drive — not a human.",
    "chitchat": "😊",
    "affirm": None,
    "deny": None,
    "out_of_scope": "That's outside what I can help with here.",
    "need_help": "Happy to help.",
    "update_details": "utter_finish_task_first",
    "request_sales": "utter_finish_task_first",
    "report_problem": "utter_finish_task_first",
    "check_case_status": "utter_finish_task_first",
}
OUTSIDE_FORM_RESPONSES = {
    "greet": "utter_greet",
    "goodbye": "utter_goodbye",
    "thank": "utter_thank",
    "bot_challenge": "utter_bot_challenge",
    "chitchat": "utter_chitchat",
    "affirm": "utter_anything_else",
    "deny": "utter_anything_else",
    "stop": "utter_anything_else",
}


def replied_this_turn(tracker: Tracker) -> bool:
    """True if a bot message was sent after the customer's latest message."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "bot":
            return True
    return False


def _say(dispatcher: CollectingDispatcher, what: str) -> None:
    if what.startswith("utter_"):
        dispatcher.utter_message(response=what)
    else:
        dispatcher.utter_message(text=what)


class ActionRecover(Action):
    """Answer the turn once in its context (or stay silent if it was answered); then listen."""

    def name(self) -> str:
        return "action_recover"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if replied_this_turn(tracker):
            return [FollowupAction(LISTEN)]
        intent, confidence = intent_of(tracker)
        text = latest_text(tracker)
        if intent == "ask_human":
            return [FollowupAction("action_handoff")]
        if intent == "complain" or tone_of(text).upset:
            return [FollowupAction("action_handle_complaint")]
        requested = tracker.get_slot("requested_slot")
        if tracker.active_loop_name and requested:
            return self._in_form(dispatcher, tracker, intent, text, requested, domain)
        if intent in OUTSIDE_FORM_RESPONSES:
            _say(dispatcher, OUTSIDE_FORM_RESPONSES[intent])
            return [FollowupAction(LISTEN)]
        events = respond_to_text(dispatcher, tracker, text, intent=intent, confidence=confidence)
        if any(isinstance(e, dict) and e.get("event") == "followup" for e in events):
            return events  # a handoff after repeated failures: it pauses the conversation
        return [*events, FollowupAction(LISTEN)]

    def _in_form(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, intent: str | None, text: str,
        requested: str, domain: dict[str, Any],
    ) -> list[EventType]:
        """A reply the form could not take: respond to it, then ask the form's question again."""
        events: list[EventType] = []
        if intent in ("ask_question", "choose_faq", "nlu_fallback", "inform", None):
            faq_events = respond_to_text(dispatcher, tracker, text, intent=intent,
                                         confidence=0.0)
            events = [e for e in faq_events if not (isinstance(e, dict)
                                                    and e.get("event") == "followup")]
        elif (said := IN_FORM_RESPONSES.get(intent)) is not None:
            _say(dispatcher, said)
        if requested == "confirm_details":
            ask_confirm_details(dispatcher, tracker)
        elif f"utter_ask_{requested}" in (domain.get("responses") or {}):
            dispatcher.utter_message(response=f"utter_ask_{requested}")
        return [*events, FollowupAction(LISTEN)]
