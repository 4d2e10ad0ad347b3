"""What the task forms share: the slots each task collects, cleared when a task is abandoned."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

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
