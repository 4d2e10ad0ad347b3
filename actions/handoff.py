"""Hand the conversation to a person: open a case, tell the customer, pause the bot."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.channels import channel_of
from actions.faq import respond_to_text
from actions.runtime import services
from actions.tone import declines_person
from crm_store import audit, support


class ActionHandoff(Action):
    """Open a handoff case with the reason and transcript; the bot stays silent until resolved."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = str((tracker.latest_message or {}).get("text") or "")
        refused = None if tracker.active_loop_name or tracker.get_slot("handoff_reason") \
            else declines_person(text)
        if refused is not None:
            # The NLU heard "person" in "I don't want to talk to a person, just the price":
            # answer what was asked, or ask what it is, and keep the bot on.
            if refused:
                return respond_to_text(dispatcher, tracker, refused, intent=None, confidence=0.0)
            dispatcher.utter_message(response="utter_how_can_i_help")
            return []
        reason = _reason(tracker)
        conversation_id = tracker.sender_id
        metadata = (tracker.latest_message or {}).get("metadata") or {}
        with services().sessions.begin() as session:
            case = support.request_handoff(
                session=session,
                conversation_id=conversation_id,
                channel=channel_of(conversation_id, metadata),
                reason=reason,
                transcript=transcript(tracker),
                actor=audit.BOT,
            )
            case_id = case.id
        dispatcher.utter_message(response="utter_handed_off", case_id=case_id)
        events: list[EventType] = []
        if tracker.active_loop_name:
            # A handoff inside a form (e.g. two unanswered turns) ends the form, so the
            # conversation does not resume into a half-filled form after the agent is done.
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        return [
            *events,
            SlotSet("failed_turns", 0),
            SlotSet("human_offered", False),
            SlotSet("handoff_reason", None),
            ConversationPaused(),
        ]


def _reason(tracker: Tracker) -> str:
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    if reason := tracker.get_slot("handoff_reason"):
        return str(reason)
    if intent == "ask_human":
        return "the customer asked for a person"
    if intent == "affirm":
        return "the FAQ search was not confident and the customer accepted a person"
    return "the assistant could not help"


def transcript(tracker: Tracker) -> str:
    """The conversation so far as 'Customer: …' / 'Relay: …' lines."""
    lines = []
    for event in tracker.events:
        if event.get("event") == "user" and event.get("text"):
            lines.append(f"Customer: {event['text']}")
        elif event.get("event") == "bot" and event.get("text"):
            lines.append(f"Relay: {event['text']}")
    return "\n".join(lines) or "(no messages)"
