"""Support cases from the conversation: report a problem, check the status of my cases."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.channels import channel_of
from actions.forms import RelayFormValidation, end_of_task, finish_cancelled, was_cancelled
from actions.identify import LOST_CUSTOMER, customer_id_of
from actions.runtime import services
from crm_store import audit, cases, conversations

MIN_DESCRIPTION_WORDS = 3
SUBJECT_LENGTH = 80
CASES_LISTED = 5


def subject_of(description: str) -> str:
    """The first line of a description, cut at a word boundary to fit a case subject."""
    first_line = description.strip().splitlines()[0].strip()
    if len(first_line) <= SUBJECT_LENGTH:
        return first_line
    return first_line[:SUBJECT_LENGTH].rsplit(" ", 1)[0] + "…"


class ValidateProblemForm(RelayFormValidation):
    """A description of at least a few words; "why won't my files sync?" is a description."""

    QUESTIONS_ARE_ANSWERS = ("problem_description",)
    COMPLAINTS_ARE_ANSWERS = ("problem_description",)

    def name(self) -> str:
        return "validate_problem_form"

    def parse_problem_description(
        self, text: str, tracker: Tracker
    ) -> tuple[str | None, str | None]:
        """The description as typed, if it says enough to act on."""
        description = text.strip()
        if len(description.split()) < MIN_DESCRIPTION_WORDS:
            return None, "Could you tell me a bit more? It helps our team fix it faster."
        return description, None

    async def validate_problem_description(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """The description as typed, if it says enough to act on."""
        return self.validated("problem_description", slot_value, dispatcher, tracker)


class ActionOpenProblemCase(Action):
    """Open a problem case for the identified customer and give them its number."""

    def name(self) -> str:
        return "action_open_problem_case"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset = end_of_task(tracker, ("problem_description",))
        if was_cancelled(tracker):
            return finish_cancelled(dispatcher, tracker, ("problem_description",),
                                    text="No problem — I haven't opened a case. "
                                    "Anything else I can help with?")
        description = str(tracker.get_slot("problem_description") or "").strip()
        if not description:
            dispatcher.utter_message(
                text="Sorry, I lost the description. Could you report it again?"
            )
            return reset
        conversation_id = tracker.sender_id
        channel = channel_of(conversation_id, (tracker.latest_message or {}).get("metadata"))
        with services().sessions.begin() as session:
            conversations.get_or_create(session=session, conversation_id=conversation_id,
                                        channel=channel)
            case = cases.open_case(
                session=session, actor=audit.BOT, subject=subject_of(description),
                description=description,
                type="problem", priority="normal", customer_id=customer_id_of(tracker),
                conversation_id=conversation_id,
            )
            case_id = case.id
        email = tracker.get_slot("email")
        reply = f" and reply to {email}" if email else ""
        dispatcher.utter_message(
            text=f"I've opened case #{case_id} for you. Our support team will look into it{reply}; "
            "you can ask me for the status of your cases any time."
        )
        return reset


class ActionListCases(Action):
    """List the identified customer's most recent cases with their status."""

    def name(self) -> str:
        return "action_list_cases"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset: list[EventType] = [SlotSet("pending_task", None)]
        customer_id = customer_id_of(tracker)
        if customer_id is None:
            dispatcher.utter_message(text=LOST_CUSTOMER)
            return reset
        with services().sessions() as session:
            found = cases.list_for_customer(session=session, customer_id=customer_id)
            lines = [f"• #{case.id} {case.subject} — {case.status}"
                     for case in found[:CASES_LISTED]]
        if not lines:
            dispatcher.utter_message(text="You have no support cases with us at the moment.")
            return reset
        more = f"\n(and {len(found) - CASES_LISTED} older)" if len(found) > CASES_LISTED else ""
        heading = "Your most recent case:" if len(lines) == 1 else "Your most recent cases:"
        dispatcher.utter_message(text=heading + "\n" + "\n".join(lines) + more)
        return reset
