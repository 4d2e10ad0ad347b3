"""Who the customer is: an email for a lead or a case, a verified identity for their records.

identify_form asks what the task needs (docs/conversation.md, "Who the customer is"):

* a lead or a problem case (sales, report_problem): the email and a name. The customer is
  only *claimed*: a known address is linked but nothing of its record is shown or changed,
  and the name is always asked, so nobody learns whether an address has an account.
* their cases or their details (check_cases, update_details): the email, then the one-time
  code mailed to it (crm_store.verification). The bot says the same whether or not the
  address has an account; "resend", "I didn't get it", another address, a question, a wrong
  code or "never mind" are each answered as a person would.

The action server learns "verified" from the CRM, never from a slot: action_start_task and the
actions that show or change a record ask crm_store.verification.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.channels import channel_of
from actions.forms import (
    Hint,
    RelayFormValidation,
    end_of_task,
    finish_cancelled,
    latest_text,
    was_cancelled,
)
from actions.runtime import services
from crm_store import audit, conversations, customers, verification
from crm_store.errors import InvalidValue
from crm_store.verification import Checked, Issued
from relay import mail

# Tasks that show or change an existing record: only for a verified customer.
NEEDS_VERIFICATION = frozenset({"check_cases", "update_details"})
VERIFIED = "verified"  # the verification_code slot's value once the code matched
# ...when no code can be sent now (the address's hourly limit): the form ends, and nothing asks
# for a code that never came
NO_CODE = "no-code"
_CODE = re.compile(r"^\D{0,20}?(\d[\d\s.\-]{4,14}\d)\D{0,20}$")
_RESEND = re.compile(
    r"\b(?:resend|re-send|send (?:it |me |a |another |the )*(?:code |one )?again|"
    r"send (?:me )?(?:a )?(?:new|another)(?: one| code)?|new code|another code|"
    r"(?:did ?n'?t|did not|didnt|have ?n'?t|haven'?t|never|not) (?:get|got|receive|received|"
    r"arrive|arrived|come|came)|no (?:code|email|mail)|nothing (?:came|arrived|yet)|"
    r"(?:code|email|mail) (?:did ?n'?t|has ?n'?t|hasnt|never) (?:come|arrive))",
    re.IGNORECASE,
)
EMAIL_IN_TEXT = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")
_NAME_PREFIX = re.compile(
    r"^(?:hi[,!]?\s+)?(?:(?:my name is|my name's|i am|i'm|im|it's|it is|this is|call me|name:|"
    r"me llamo|mi nombre es|soy|ich heiße|ich bin|mein name ist|je m'appelle|je suis|"
    r"mon nom est|meu nome é|me chamo|eu sou|sou)\s+|(?:我叫|我是|我的名字是)\s*)",
    re.IGNORECASE,
)


def email_from_text(text: str) -> str:
    """The email address inside a sentence ("my email is ana@x.com"), else the whole text."""
    match = EMAIL_IN_TEXT.search(text)
    return (match.group(0) if match else text).strip().rstrip(".!?")


# Characters no name has (markup, code, paths): "<img src=x onerror=…>" is not a name.
_NOT_IN_NAMES = set('<>{}[]()=;:/\\|"`@#$%^*_+~?!')
# Words a sentence has and a name does not: "it started on monday", "hmm since last week" were
# taken as the names "It Started On Monday" and "Hmm Since Last Week". A capitalised name that
# has one ("May Lee", "Will Smith") is still taken.
_SENTENCE_WORDS = frozenset({
    "it", "is", "was", "on", "in", "at", "the", "an", "since", "started", "my", "we", "and",
    "but", "not", "don't", "dont", "hmm", "wait", "last", "week", "when", "because", "still",
    "just", "already", "yesterday", "today", "tomorrow", "there", "this", "that", "what", "why",
    "how", "who", "where", "can", "could", "would", "should", "will", "have", "has", "had",
    "does", "did", "do", "are", "were", "been", "be", "to", "of", "for", "with", "from", "about"})


def name_from_text(text: str) -> str | None:
    """A person's name from "I'm ana silva" → "Ana Silva"; None if it does not look like one."""
    name = _NAME_PREFIX.sub("", text.strip()).strip().rstrip(".!")
    if not name or len(name) > 100 or any(ch.isdigit() or ch in _NOT_IN_NAMES for ch in name):
        return None
    words = name.split()
    if len(words) > 5 or (len(words) > 1 and name == name.lower() and any(
            w.strip(",.'’") in _SENTENCE_WORDS or w.lower() in _NOT_NAMES for w in words)):
        return None
    return name.title() if name == name.lower() else name


_STRICT_NAME = re.compile(
    r"^(?:(?:hi|hello|hey)[,!]?\s+)?"
    r"(?:(?:i'm|i am|im|my name is|my name's|it's|this is|call me|me llamo|soy|ich heiße|"
    r"ich bin|je m'appelle|je suis|meu nome é|me chamo|sou)\s+)?"
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
    """How to address the customer in a reply: their first name ("" if none is known; the
    identification form always asks for one)."""
    name = str(tracker.get_slot("customer_name") or "").strip()
    return name.split()[0] if name else ""


def verified_customer_of(tracker: Tracker) -> int | None:
    """The customer the CRM says this conversation is verified as (never a slot), or None."""
    with services().sessions() as session:
        return verification.verified_customer_id(session=session,
                                                 conversation_id=tracker.sender_id)


def verified_identity(tracker: Tracker) -> tuple[int, str | None, str | None] | None:
    """(id, name, email) of the customer the CRM says this conversation is verified as (never a
    slot), or None."""
    with services().sessions() as session:
        customer_id = verification.verified_customer_id(session=session,
                                                        conversation_id=tracker.sender_id)
        customer = (customers.get(session=session, customer_id=customer_id)
                    if customer_id is not None else None)
        return (customer.id, customer.name, customer.email) if customer is not None else None


def customer_id_of(tracker: Tracker) -> int | None:
    """The CRM id of the customer this conversation was identified as, or None."""
    value = tracker.get_slot("customer_id")
    return int(value) if value is not None else None


def code_from_text(text: str) -> str | None:
    """The 6-digit code in a reply ("123 456", "my code is 123-456"), else None."""
    match = _CODE.match(text.strip())
    if match is None:
        return None
    digits = re.sub(r"\D", "", match.group(1))
    return digits if len(digits) == verification.CODE_DIGITS else None


def asks_for_a_new_code(text: str) -> bool:
    """True for "resend", "I didn't get it", "send it again", "no email yet"."""
    return bool(_RESEND.search(text))


def needs_verification(tracker: Tracker) -> bool:
    """Whether the task identify_form runs for shows or changes an existing record."""
    return tracker.get_slot("pending_task") in NEEDS_VERIFICATION


def mail_code(dispatcher: CollectingDispatcher, tracker: Tracker, email: str, *,
              resend: bool) -> str | None:
    """Issue a code for email (mailed in the background if the address has an account) and
    say what happened — the same words whether or not it has one; the verification_code
    slot's value to set (None: ask for the code; NO_CODE: none was sent, end the form)."""
    settings = services().settings
    with services().sessions.begin() as session:
        issued = verification.issue_code(session=session, secret=settings.secret_key,
                                         conversation_id=tracker.sender_id, email=email,
                                         actor=audit.BOT, resend=resend)
    if issued.code is not None:
        minutes = int(verification.CODE_TTL.total_seconds() // 60)
        mail.send_later(settings, mail.code_message(settings, to=issued.email, code=issued.code,
                                                    minutes=minutes))
    if issued.outcome == Issued.WAIT:
        dispatcher.utter_message(response="utter_code_wait", seconds=issued.wait_seconds)
    elif issued.outcome == Issued.LIMIT:
        dispatcher.utter_message(response="utter_code_limit")
        return NO_CODE
    else:
        dispatcher.utter_message(response="utter_code_resent" if resend else "utter_code_sent",
                                 email=issued.email)
    return None


class ValidateIdentifyForm(RelayFormValidation):
    """The email; then a name (lead, case) or the mailed code (their records)."""

    def name(self) -> str:
        return "validate_identify_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """email and verification_code for a customer's records; email and name otherwise."""
        if was_cancelled(tracker):
            return []
        if needs_verification(tracker):
            return ["email", "verification_code"]
        return ["email", "customer_name"]

    def parse_email(self, text: str, tracker: Tracker) -> tuple[str | None, Hint | None]:
        """A syntactically valid email address."""
        try:
            return customers.normalise_email(email_from_text(text)), None
        except ValueError:
            return None, Hint("utter_hint_email")

    def strict_email(self, text: str) -> str | None:
        """An email address in the reply, whatever the NLU thought of it."""
        match = EMAIL_IN_TEXT.search(text)
        return match.group(0).rstrip(".!?") if match else None

    def strict_customer_name(self, text: str) -> str | None:
        """A name in capitalised words, whatever the NLU thought of it."""
        return strict_name(text)

    def strict_verification_code(self, text: str) -> str | None:
        """A code or a request for a new one, whatever the NLU thought of it."""
        return text if code_from_text(text) or asks_for_a_new_code(text) else None

    def parse_customer_name(self, text: str, tracker: Tracker) -> tuple[str | None, Hint | None]:
        """A plausible name."""
        name = name_from_text(text)
        return name, None if name else Hint("utter_hint_customer_name")

    def parse_verification_code(
        self, text: str, tracker: Tracker
    ) -> tuple[str | None, Hint | None]:
        """Codes and requests for one are handled before; anything else gets the hint."""
        return None, Hint("utter_code_hint")

    async def validate_email(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """A valid email; for a customer's records, a code is mailed to it."""
        result = self.validated("email", slot_value, dispatcher, tracker)
        email = result.get("email")
        if email is None or not needs_verification(tracker):
            return result
        return {**result, "verification_code": mail_code(dispatcher, tracker, email,
                                                         resend=False)}

    async def validate_customer_name(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """A plausible name."""
        return self.validated("customer_name", slot_value, dispatcher, tracker)

    async def validate_verification_code(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """The code checked; a new one on request; another address gets its own code."""
        if tracker.get_slot("requested_slot") != "verification_code":
            return {"verification_code": None}  # never carried over from before the form
        text = latest_text(tracker) or str(slot_value or "")
        email = str(tracker.get_slot("email") or "")
        if asks_for_a_new_code(text) and email:
            return {"verification_code": mail_code(dispatcher, tracker, email, resend=True)}
        other = EMAIL_IN_TEXT.search(text)
        if other is not None:
            try:
                address = customers.normalise_email(other.group(0).rstrip(".!?"))
            except InvalidValue:
                address = ""
            if address and address != email:
                return {"email": address,
                        "verification_code": mail_code(dispatcher, tracker, address,
                                                       resend=False)}
        code = code_from_text(text)
        if code is None:
            return self.validated("verification_code", slot_value, dispatcher, tracker)
        return self._check(dispatcher, tracker, code)

    def _check(self, dispatcher: CollectingDispatcher, tracker: Tracker, code: str
               ) -> dict[str, Any]:
        conversation_id = tracker.sender_id
        channel = channel_of(conversation_id, (tracker.latest_message or {}).get("metadata"))
        with services().sessions.begin() as session:
            checked = verification.check_code(
                session=session, secret=services().settings.secret_key,
                conversation_id=conversation_id, code=code, actor=audit.BOT, channel=channel)
        if checked.outcome == Checked.OK:
            return {"verification_code": VERIFIED}
        if checked.outcome == Checked.WRONG:
            dispatcher.utter_message(response="utter_code_wrong", tries_left=checked.tries_left)
        elif checked.outcome == Checked.LOCKED:
            dispatcher.utter_message(response="utter_code_locked")
        elif checked.outcome == Checked.EXPIRED:
            dispatcher.utter_message(response="utter_code_expired")
        else:
            dispatcher.utter_message(response="utter_code_none")
        return {"verification_code": None}


class ActionIdentifyCustomer(Action):
    """After identify_form: the verified customer (from the CRM), or the claimed one."""

    def name(self) -> str:
        return "action_identify_customer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if was_cancelled(tracker):
            return [*finish_cancelled(dispatcher, tracker, (), response="utter_form_cancelled"),
                    SlotSet("email", None), SlotSet("customer_name", None),
                    SlotSet("verification_code", None)]
        if needs_verification(tracker):
            return self._verified(dispatcher, tracker)
        return self._claimed(dispatcher, tracker)

    def _verified(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        """The customer the CRM says this conversation is verified as."""
        known = verified_identity(tracker)
        if known is None:
            if tracker.get_slot("verification_code") != NO_CODE:  # else: the limit was said
                dispatcher.utter_message(response="utter_not_verified")
            return [*end_of_task(tracker, ()), SlotSet("verification_code", None)]
        customer_id, name, email = known
        addressed = str(name or "").split()[0] if name else "there"
        dispatcher.utter_message(response="utter_verified", name=addressed)
        return [SlotSet("customer_id", customer_id), SlotSet("customer_name", name),
                SlotSet("email", email), SlotSet("identified", True), SlotSet("verified", True),
                SlotSet("verification_code", None)]

    def _claimed(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        """The customer the typed email names, linked as claimed: their record is not shown,
        not changed, and a new address makes a new customer."""
        email = str(tracker.get_slot("email"))
        name = tracker.get_slot("customer_name")
        conversation_id = tracker.sender_id
        channel = channel_of(conversation_id, (tracker.latest_message or {}).get("metadata"))
        with services().sessions.begin() as session:
            # The conversation first: a record this conversation creates is younger than it
            # (actions/sales.created_here), even before Rasa's events reach the CRM.
            conversations.get_or_create(session=session, conversation_id=conversation_id,
                                        channel=channel)
            customer = customers.get_by_email(session=session, email=email)
            if customer is None:
                customer = customers.create(session=session, actor=audit.BOT, email=email,
                                            name=name)
            if verification.verified_customer_id(session=session,
                                                 conversation_id=conversation_id) is None:
                conversations.link_customer(session=session, conversation_id=conversation_id,
                                            customer_id=customer.id, actor=audit.BOT)
            customer_id = customer.id
        addressed = str(name or "").split()[0] if name else "there"
        dispatcher.utter_message(response="utter_identified", name=addressed)
        return [
            SlotSet("customer_id", customer_id),
            SlotSet("customer_name", name),
            SlotSet("email", email),
            SlotSet("identified", True),
        ]
