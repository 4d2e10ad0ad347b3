"""What the task forms share: the slots each task collects, cleared when a task is abandoned."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.runtime import services
from crm_store import customers, verification

TASK_SLOTS = ("detail_field", "phone", "address", "confirm_details", "lead_interest",
              "company_size", "company", "budget", "timeline", "problem_description",
              "pending_task", "form_cancelled", "verification_code")
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


def verification_events(tracker: Tracker) -> list[EventType]:
    """The verified slot (and who it is) as the CRM has it now: a code typed in an earlier
    conversation on this chat, or the website's signed identity, counts; a slot alone never."""
    with services().sessions() as session:
        customer_id = verification.verified_customer_id(session=session,
                                                        conversation_id=tracker.sender_id)
        customer = (customers.get(session=session, customer_id=customer_id)
                    if customer_id is not None else None)
        known = (customer.name, customer.email) if customer is not None else None
    if customer_id is None or known is None:
        return [SlotSet("verified", False)]
    name, email = known
    return [SlotSet("verified", True), SlotSet("identified", True),
            SlotSet("customer_id", customer_id), SlotSet("customer_name", name),
            SlotSet("email", email)]


class ActionStartTask(Action):
    """Let a task start — unless, right after an answer, it is really a follow-up question.

    First the verified slot is set from the CRM (the rules then choose between the task and
    identify_form, bot/data/rules_tasks.yml).

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

        verified = verification_events(tracker)
        message = tracker.latest_message or {}
        text = str(message.get("text") or "")
        confidence = float((message.get("intent") or {}).get("confidence") or 0.0)
        previous = tracker.get_slot("last_question")
        if (confidence >= SURE_TASK_START or not previous or not looks_like_follow_up(text)
                or not answered_from_faq_last(tracker)):
            return verified
        answered = decide_in_context(services().faq, text, previous)
        decision = answered.decision
        if not (decision.kind == "answer" and decision.hits[0].score >= SURE_FOLLOW_UP):
            return verified
        return [*verified, SlotSet("pending_task", None), FollowupAction("action_answer_faq")]
