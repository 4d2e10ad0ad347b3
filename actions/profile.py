"""Update an identified customer's phone number or address."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.identify import customer_id_of
from actions.runtime import services
from crm_store import audit, customers

FIELD_LABELS = {"phone": "phone number", "address": "address"}
_PHONE_WORDS = ("phone", "mobile", "cell", "number", "telephone", "tel")
_ADDRESS_WORDS = ("address", "street", "post", "moved", "home")
_PHONE_IN_TEXT = re.compile(r"(?:\+|00)?\d[\d\s().\-/]{4,}\d")
_ADDRESS_PREFIX = re.compile(r"^(?:my new address is|my address is|new address:|it's|it is)\s+",
                             re.IGNORECASE)
MIN_ADDRESS_LENGTH = 5


def field_from_text(value: Any) -> str | None:
    """'phone' or 'address' from what the customer said ("my mobile number"), else None."""
    text = str(value or "").lower()
    if "email" in text:  # an email change is an account matter, not a contact detail here
        return None
    if any(word in text for word in _PHONE_WORDS):
        return "phone"
    if any(word in text for word in _ADDRESS_WORDS):
        return "address"
    return None


def phone_from_text(text: str) -> str:
    """The E.164 phone number in what the customer said; ValueError with a sentence otherwise."""
    match = _PHONE_IN_TEXT.search(text)
    candidate = match.group(0) if match else text
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    return customers.normalise_phone(candidate)


def address_from_text(text: str) -> str | None:
    """The address without a leading "my new address is"; None if too short to be one."""
    address = _ADDRESS_PREFIX.sub("", text.strip()).strip()
    return address if len(address) >= MIN_ADDRESS_LENGTH else None


class ValidateUpdateDetailsForm(FormValidationAction):
    """Ask which detail, then only that detail; phone numbers must be real E.164 numbers."""

    def name(self) -> str:
        return "validate_update_details_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """detail_field, then the chosen field's slot."""
        field = field_from_text(tracker.get_slot("detail_field"))
        return ["detail_field", field] if field else ["detail_field"]

    async def extract_detail_field(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The field named in the request that started the form ("change my phone number")."""
        if tracker.get_slot("detail_field") or tracker.get_slot("requested_slot") == "detail_field":
            return {}
        # The request may be a few turns back when identification came first.
        for event in reversed(tracker.events):
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if event.get("event") == "user" and intent == "update_details":
                field = field_from_text(event.get("text"))
                return {"detail_field": field} if field else {}
        return {}

    async def validate_detail_field(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """'phone' or 'address'."""
        field = field_from_text(slot_value)
        if field is None:
            dispatcher.utter_message(
                text="I can update your phone number or your address."
            )
        return {"detail_field": field}

    async def validate_phone(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """The number in E.164 form."""
        try:
            return {"phone": phone_from_text(str(slot_value))}
        except ValueError as error:
            dispatcher.utter_message(
                text=str(error)
            )
            return {"phone": None}

    async def validate_address(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """A non-trivial address."""
        address = address_from_text(str(slot_value))
        if address is None:
            dispatcher.utter_message(
                text="That looks too short for an address."
            )
        return {"address": address}


class ActionSaveDetails(Action):
    """Store the new phone number or address on the identified customer."""

    def name(self) -> str:
        return "action_save_details"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        field = field_from_text(tracker.get_slot("detail_field"))
        value = tracker.get_slot(field) if field else None
        customer_id = customer_id_of(tracker)
        reset = [SlotSet("detail_field", None), SlotSet("phone", None), SlotSet("address", None),
                 SlotSet("pending_task", None)]
        if field is None or value is None or customer_id is None:
            dispatcher.utter_message(
                text="Sorry, I lost track of what to update. Could you ask me again?"
            )
            return reset
        with services().sessions.begin() as session:
            customers.update(session=session, customer_id=customer_id, actor=audit.BOT,
                             **{field: value})
        dispatcher.utter_message(text=f"Done — your {FIELD_LABELS[field]} is now {value}.")
        return reset
