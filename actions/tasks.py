"""What the task forms share: the slots each task collects, cleared when a task is abandoned."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.languages import faq_for

TASK_SLOTS = ("detail_field", "phone", "address", "confirm_details", "lead_interest",
              "company_size", "company", "budget", "timeline", "problem_description",
              "pending_task", "form_cancelled")
# Half-given identity (an email without a name yet) is dropped; a finished identification stays.
IDENTITY_SLOTS = ("email", "customer_name")


class ActionClearTask(Action):
    """Forget the answers of an abandoned form ("stop", or a handoff) so a new start asks again."""

    def name(self) -> str:
        return "action_clear_task"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        slots = TASK_SLOTS if tracker.get_slot("identified") else (*TASK_SLOTS, *IDENTITY_SLOTS)
        return [SlotSet(slot, None) for slot in slots
                if tracker.get_slot(slot) not in (None, False)]


# A task start this sure is taken as one even right after an answer ("I want a demo").
SURE_TASK_START = 0.95
SURE_FOLLOW_UP = 0.9


def answered_from_faq_last(tracker: Tracker) -> bool:
    """True if the bot's last action before the customer's latest message answered the FAQ."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return False
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
            return event.get("name") == "action_answer_faq"
    return False


class ActionStartTask(Action):
    """Let a task start — unless, right after an answer, it is really a follow-up question.

    "and for 20 people?" after the Business price reads as a sales request to the NLU; a person
    would hear the follow-up. When the message points back (knowledge.runtime.context) and the FAQ
    answers it surely (in the conversation's context), the task is not started and the
    question is answered instead (the turn then ends through the fallback, actions/recover.py).
    """

    def name(self) -> str:
        return "action_start_task"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        from knowledge.runtime.context import decide_in_context, looks_like_follow_up

        message = tracker.latest_message or {}
        text = str(message.get("text") or "")
        confidence = float((message.get("intent") or {}).get("confidence") or 0.0)
        previous = tracker.get_slot("last_question")
        if (confidence >= SURE_TASK_START or not previous or not looks_like_follow_up(text)
                or not answered_from_faq_last(tracker)):
            return []
        answered = decide_in_context(faq_for(tracker, text), text, previous)
        decision = answered.decision
        if not (decision.kind == "answer" and decision.hits[0].score >= SURE_FOLLOW_UP):
            return []
        return [SlotSet("pending_task", None), FollowupAction("action_answer_faq")]
