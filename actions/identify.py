"""Who the customer is: ask for an email, find or create them, link the conversation to them."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.channels import channel_of
from actions.forms import RelayFormValidation, finish_cancelled, was_cancelled
from actions.runtime import services
from crm_store import audit, conversations, customers
from relay import channels

LOST_CUSTOMER = "Sorry, I lost track of who you are. Could you ask me again?"
EMAIL_IN_TEXT = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")
_NAME_PREFIX = re.compile(
    r"^(?:hi[,!]?\s+)?(?:my name is|my name's|i am|i'm|im|it's|it is|this is|call me|name:)\s+",
    re.IGNORECASE,
)


def email_from_text(text: str) -> str:
    """The email address inside a sentence ("my email is ana@x.com"), else the whole text."""
    match = EMAIL_IN_TEXT.search(text)
    return (match.group(0) if match else text).strip().rstrip(".!?")


def name_from_text(text: str) -> str | None:
    """A person's name from "I'm ana silva" → "Ana Silva"; None if it does not look like one."""
    name = _NAME_PREFIX.sub("", text.strip()).strip().rstrip(".!")
    if not name or len(name) > 100 or "@" in name or any(ch.isdigit() for ch in name):
        return None
    if len(name.split()) > 5:
        return None
    return name.title() if name == name.lower() else name


_STRICT_NAME = re.compile(
    r"^(?:(?:hi|hello|hey)[,!]?\s+)?"
    r"(?:(?:i'm|i am|im|my name is|my name's|it's|this is|call me)\s+)?"
    r"((?:[A-ZÀ-Þ][\w'’-]*)(?:\s+[A-ZÀ-Þ][\w'’-]*){0,3})\s*[.!]?$",
    re.IGNORECASE,
)
_NOT_NAMES = frozenset({"hi", "hello", "hey", "thanks", "thank", "bye", "goodbye", "ok", "okay",
                        "yes", "no", "cool", "nice", "great", "sorry", "please", "help", "agent",
                        "human", "stop", "cancel", "sure", "fine", "lol", "wow", "what", "why",
                        "how", "you", "bot", "useless", "terrible", "awful", "frustrated"})
_VERY_COMMON = 30_000_000  # corpus count above which a word is everyday English, not a name


def strict_name(text: str) -> str | None:
    """A name only when it cannot be anything else: capitalised words ("I'm Dana Scully")."""
    from knowledge.runtime.spelling import english_counts

    match = _STRICT_NAME.match(text.strip())
    if match is None:
        return None
    words = match.group(1).split()
    if any(not w[0].isupper() for w in words) or any(w.lower() in _NOT_NAMES for w in words):
        return None
    counts = english_counts()
    if all(counts.get(w.lower(), 0) >= _VERY_COMMON for w in words):
        return None  # "Good Morning", "Thank You"
    return " ".join(words)


def first_name(tracker: Tracker) -> str:
    """How to address the customer in a reply: their first name, or "there"."""
    name = str(tracker.get_slot("customer_name") or "").strip()
    return name.split()[0] if name else "there"


def customer_id_of(tracker: Tracker) -> int | None:
    """The CRM id of the customer this conversation was identified as, or None."""
    value = tracker.get_slot("customer_id")
    return int(value) if value is not None else None


class ValidateIdentifyForm(RelayFormValidation):
    """Check the email; a known customer's name is filled in so the form does not ask for it."""

    def name(self) -> str:
        return "validate_identify_form"

    def parse_email(self, text: str, tracker: Tracker) -> tuple[str | None, str | None]:
        """A syntactically valid email address."""
        try:
            return customers.normalise_email(email_from_text(text)), None
        except ValueError:
            return None, ("That doesn't look like an email address — it should look like "
                          "name@example.com.")

    def strict_email(self, text: str) -> str | None:
        """An email address in the reply, whatever the NLU thought of it."""
        match = EMAIL_IN_TEXT.search(text)
        return match.group(0).rstrip(".!?") if match else None

    def strict_customer_name(self, text: str) -> str | None:
        """A name in capitalised words, whatever the NLU thought of it."""
        return strict_name(text)

    def parse_customer_name(self, text: str, tracker: Tracker) -> tuple[str | None, str | None]:
        """A plausible name."""
        name = name_from_text(text)
        return name, None if name else "Sorry, I didn't catch a name there."

    async def validate_email(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """A valid email; the known customer's name with it."""
        result = self.validated("email", slot_value, dispatcher, tracker)
        email = result.get("email")
        if email is None:
            return result
        with services().sessions() as session:
            known = customers.get_by_email(session=session, email=email)
            name = known.name if known is not None else None
        # None makes the form ask a new (or nameless) customer for their name.
        return {**result, "customer_name": name}

    async def validate_customer_name(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """A plausible name."""
        return self.validated("customer_name", slot_value, dispatcher, tracker)


class ActionIdentifyCustomer(Action):
    """Find or create the customer, link this conversation (and its channel identity) to them."""

    def name(self) -> str:
        return "action_identify_customer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if was_cancelled(tracker):
            return [*finish_cancelled(dispatcher, tracker, (), response="utter_form_cancelled"),
                    SlotSet("email", None), SlotSet("customer_name", None)]
        email = str(tracker.get_slot("email"))
        name = tracker.get_slot("customer_name")
        conversation_id = tracker.sender_id
        channel = channel_of(conversation_id, (tracker.latest_message or {}).get("metadata"))
        with services().sessions.begin() as session:
            returning = customers.get_by_email(session=session, email=email) is not None
            customer = customers.find_or_create_by_email(session=session, email=email, name=name,
                                                         actor=audit.BOT)
            conversations.get_or_create(session=session, conversation_id=conversation_id,
                                        channel=channel)
            conversations.link_customer(session=session, conversation_id=conversation_id,
                                        customer_id=customer.id, actor=audit.BOT)
            # A personal channel's conversation belongs to one person (a browser session, a
            # Telegram chat), so the identity is remembered; REST ids are arbitrary and are not.
            if channels.get(channel).personal:
                # The same external id conversations.get_or_create looks identities up by.
                customers.attach_identity(
                    session=session, customer_id=customer.id, channel=channel,
                    external_id=channels.of_conversation(conversation_id).external_id(
                        conversation_id))
            customer_id, customer_name = customer.id, customer.name or name
        addressed = str(customer_name or "").split()[0] if customer_name else "there"
        if returning:
            dispatcher.utter_message(text=f"Welcome back, {addressed}!")
        else:
            dispatcher.utter_message(text=f"Thanks, {addressed} — nice to meet you.")
        return [
            SlotSet("customer_id", customer_id),
            SlotSet("customer_name", customer_name),
            SlotSet("email", email),
            SlotSet("identified", True),
        ]
