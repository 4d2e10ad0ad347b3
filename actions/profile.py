"""Update an identified customer's phone number or address."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.forms import (
    Hint,
    RelayFormValidation,
    backs_out,
    cancelled,
    end_of_task,
    finish_cancelled,
    latest_text,
    was_cancelled,
)
from actions.identify import verified_customer_of
from actions.languages import faq_for, language_of, say_answer
from actions.runtime import services
from crm_store import audit, customers
from knowledge.runtime.context import word_count

# Words naming the detail, in Relay's languages (matched as parts of what the customer said).
_PHONE_WORDS = ("phone", "mobile", "cell", "number", "telephone", "tel", "teléfono", "telefono",
                "móvil", "movil", "número", "numero", "handy", "nummer", "téléphone",
                "portable", "numéro", "celular", "电话", "手机", "号码")
_ADDRESS_WORDS = ("address", "street", "post", "moved", "home", "dirección", "direccion",
                  "domicilio", "mudé", "adresse", "anschrift", "umgezogen", "déménagé",
                  "endereço", "endereco", "morada", "mudei", "地址", "住址", "搬家")
_EMAIL_WORDS = ("email", "e-mail", "correo", "courriel", "邮箱")
_PHONE_IN_TEXT = re.compile(r"(?:\+|00)?\d[\d\s().\-/]{4,}\d")
_ADDRESS_PREFIX = re.compile(
    r"^(?:my new address is|my address is|new address:|it's|it is|mi (?:nueva )?dirección es|"
    r"meine (?:neue )?adresse ist|(?:ma nouvelle|mon) adresse est|meu (?:novo )?endereço é)\s+"
    r"|^(?:我的新地址是|我的地址是|新地址是?)[:：]?\s*",
    re.IGNORECASE)
# A correction's opening, before the value: "no wait, it's 221B Baker Street", "sorry, my address
# is …", "actually, …" ("No. 5 Main Street" keeps its "No.").
_CORRECTION = re.compile(
    r"^(?:(?:no,|no\s+wait|wait|sorry|oops|actually|i\s+mean|i\s+meant|correction|perdón|perdon|"
    r"quise\s+decir|en\s+realidad|eigentlich|ich\s+meine|en\s+fait|je\s+veux\s+dire|desculpa|"
    r"na\s+verdade|quer\s+dizer)(?:\b|(?<=,))[\s,:!.-]*)+",
    re.IGNORECASE)
MIN_ADDRESS_LENGTH = 5
_STREET_WORDS = re.compile(
    r"\b(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|way|court|ct|place|pl|square|sq|"
    r"boulevard|blvd|close|crescent|terrace|row|hill|park|gardens|strasse|straße|str|gasse|weg|"
    r"platz|allee|rue|avenida|calle|rua|via|viale|piazza|plaza|po box|apartment|apt|flat|suite|"
    r"unit|floor)\b|[路街巷弄号区市省镇村]",
    re.IGNORECASE,
)
_YES = re.compile(
    r"^\s*(?:yes|yeah|yep|yup|sure|ok(?:ay)?|correct|right|that's right|thats right|confirm|"
    r"save(?: it)?|go ahead|please do|do it|perfect|exactly|y)\b",
    re.IGNORECASE,
)
DETAIL_SLOTS = ("detail_field", "phone", "address", "confirm_details")


def field_from_text(value: Any) -> str | None:
    """'phone' or 'address' from what the customer said ("my mobile number"), else None."""
    text = str(value or "").lower()
    if any(word in text for word in _EMAIL_WORDS):  # an account matter, not a contact detail
        return None
    if any(word in text for word in _PHONE_WORDS):
        return "phone"
    if any(word in text for word in _ADDRESS_WORDS):
        return "address"
    return None


EMAIL_CHANGE_ENTRY = "change-email"  # the FAQ entry that says how to change the login email


def names_email(text: str) -> bool:
    """Whether the customer speaks of their email only ("update my email", "my email address";
    not "my email and my phone"): the account's login, which they change themselves, not a
    contact detail of this form."""
    lowered = _EMAIL_ADDRESS.sub("email", text.lower())
    return (any(word in lowered for word in _EMAIL_WORDS)
            and not any(word in lowered for word in (*_PHONE_WORDS, *_ADDRESS_WORDS)))


_EMAIL_ADDRESS = re.compile(r"e-?mail[- ]address|adresse e-?mail|endereço de e-?mail|"
                            r"dirección de (?:correo|e-?mail)|e-?mail-adresse|\S+@\S+")


def tell_how_to_change_email(dispatcher: CollectingDispatcher, tracker: Tracker,
                             text: str) -> bool:
    """Say how the login email is changed (the FAQ's answer); False if the FAQ has no entry."""
    hit = faq_for(tracker, text).entry(EMAIL_CHANGE_ENTRY)
    if hit is None:
        return False
    say_answer(dispatcher, hit, language_of(tracker))
    return True


def phone_from_text(text: str) -> str:
    """The E.164 phone number in what the customer said; ValueError with a sentence otherwise."""
    match = _PHONE_IN_TEXT.search(text)
    candidate = match.group(0) if match else text
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    return customers.normalise_phone(candidate)


def address_from_text(text: str) -> str | None:
    """The address without a leading "my new address is"; None unless it looks like one.

    An address has a number (house number, postcode) or a street word, and two words or more:
    "12 Baker Street, London", "Hauptstraße 5, Berlin" — not "we're moving next month".
    """
    address = _ADDRESS_PREFIX.sub("", _CORRECTION.sub("", text.strip())).strip().rstrip(".!")
    if len(address) < MIN_ADDRESS_LENGTH or word_count(address) < 2 or address.endswith("?"):
        return None
    if not (any(ch.isdigit() for ch in address) or _STREET_WORDS.search(address)):
        return None
    return address


# What introduces the new value in a request that gives it ("change my phone number to +44 …",
# "cambia mi dirección a Calle Mayor 3", "meine Nummer auf +49 …", "电话改成 138…").
_VALUE_MARKER = re.compile(
    r"(?:\b(?:to|is|into|now|a|auf|zu|in|ist|es|en|est|par|para|por|pour|é)\b|[:：]|改成|改为|换成|"
    r"变成|是)\s*(?:(?:now|ahora|jetzt|maintenant|agora)\b\s*)?",
    re.IGNORECASE)


def value_in_request(text: str, field: str) -> str | None:
    """The new phone number or address a request to change it already gives, else None.

    The value follows a marker after the field's name ("to", "a", "auf", ":"…); for an address
    the last marker whose rest reads as one ("update my address in the app to 5 Main St"), for
    a phone number the first whose rest holds one.
    """
    lowered = text.lower()
    words = _PHONE_WORDS if field == "phone" else _ADDRESS_WORDS
    at = min((i for word in words if (i := lowered.find(word)) >= 0), default=-1)
    if at < 0:
        return None
    rests = [text[m.end():].strip().rstrip(".!") for m in _VALUE_MARKER.finditer(text, at)]
    if field == "address":
        return next((a for rest in reversed(rests) if (a := address_from_text(rest))), None)
    for rest in rests:
        if _PHONE_IN_TEXT.search(rest):
            try:
                return phone_from_text(rest)
            except ValueError:
                return None
    return None


# Longest message still taken for a bare address outside a form.
MAX_ADDRESS_WORDS = 12


def looks_like_street_address(text: str) -> bool:
    """A message that is only a postal address ("12 Baker Street, London NW1"): a number and a
    street word, few words, not a question. Stricter than address_from_text, which reads the
    answer to "what is your new address?"."""
    address = address_from_text(text)
    return (address is not None and any(ch.isdigit() for ch in address)
            and bool(_STREET_WORDS.search(address) or _STREET_SUFFIX.search(address))
            and word_count(address) <= MAX_ADDRESS_WORDS)


# German streets are one word: "Hauptstraße 5", "Am Lindenweg 3".
_STREET_SUFFIX = re.compile(r"\w(?:straße|strasse|str\.|gasse|weg|platz|allee|damm|ring)\b",
                            re.IGNORECASE)


_YES_OTHER = re.compile(
    r"^\s*(?:sí|si|claro|vale|de acuerdo|correcto|guárdalo|ja|genau|klar|richtig|speichern|"
    r"oui|d'accord|exactement|enregistre[rz]?|sim|certo|pode|isso|salva[r]?)\b"
    r"|^\s*(?:是|好|对|可以|确认|没问题|保存)",
    re.IGNORECASE,
)


def says_yes(text: str) -> bool:
    """True for a plain yes ("yes", "sure, save it", "correct", "sí", "ja", "好的")."""
    return bool(_YES.match(text) or _YES_OTHER.match(text))


class ValidateUpdateDetailsForm(RelayFormValidation):
    """Ask which detail, then only that detail, then read the change back before it is saved."""

    NO_IS_AN_ANSWER = ("confirm_details",)

    def name(self) -> str:
        return "validate_update_details_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """detail_field, then the chosen field's slot, then the confirmation."""
        if was_cancelled(tracker):
            return []
        field = field_from_text(tracker.get_slot("detail_field"))
        return ["detail_field", field, "confirm_details"] if field else ["detail_field"]

    async def extract_detail_field(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """When the form starts: the field named in the request that started it ("change my
        phone number"), and the new value if the request gave it too ("… to +44 7911 123456";
        the field may be set already, from the request's entity)."""
        if tracker.get_slot("requested_slot") is not None:
            return {}  # asked for something: the reply is the answer, not the request
        # The request may be a few turns back when identification came first.
        for event in reversed(tracker.events):
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if event.get("event") == "user" and intent == "update_details":
                text = str(event.get("text") or "")
                field = field_from_text(tracker.get_slot("detail_field")) or field_from_text(text)
                if field is None:
                    return {}
                found: dict[str, Any] = {}
                if not tracker.get_slot("detail_field"):
                    found["detail_field"] = field
                if not tracker.get_slot(field) and (value := value_in_request(text, field)):
                    found[field] = value
                return found
        return {}

    def parse_detail_field(self, text: str, tracker: Tracker) -> tuple[str | None, Hint | None]:
        """'phone' or 'address'."""
        field = field_from_text(text)
        return field, None if field else Hint("utter_hint_detail_field")

    def parse_phone(self, text: str, tracker: Tracker) -> tuple[str | None, Hint | None]:
        """The number in E.164 form."""
        try:
            return phone_from_text(text), None
        except ValueError as error:
            return None, Hint("utter_hint_phone", {"error": str(error)})

    def strict_phone(self, text: str) -> str | None:
        """A valid phone number in the reply, whatever the NLU thought of it."""
        try:
            return phone_from_text(text)
        except ValueError:
            return None

    def strict_address(self, text: str) -> str | None:
        """Something that looks like an address, whatever the NLU thought of it."""
        return address_from_text(text)

    def parse_address(self, text: str, tracker: Tracker) -> tuple[str | None, Hint | None]:
        """Something that looks like a postal address."""
        address = address_from_text(text)
        return address, None if address else Hint("utter_hint_address")

    async def validate_detail_field(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """'phone' or 'address'; the email is not one of them ("my email address" was read as
        the address, its entity): how to change it is said, and the form ends."""
        text = latest_text(tracker)
        if (tracker.get_slot("requested_slot") == "detail_field" and names_email(text)
                and tell_how_to_change_email(dispatcher, tracker, text)):
            return cancelled("detail_field")
        return self.validated("detail_field", slot_value, dispatcher, tracker)

    async def validate_phone(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """The number in E.164 form."""
        return self.validated("phone", slot_value, dispatcher, tracker)

    async def validate_address(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """A plausible address."""
        return self.validated("address", slot_value, dispatcher, tracker)

    async def validate_confirm_details(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Yes saves; a new value replaces the one read back (asked again); no leaves it."""
        early = self.interpret("confirm_details", slot_value, dispatcher, tracker)
        if early is not None:
            return early
        text = latest_text(tracker) or str(slot_value or "")
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if says_yes(text) or (intent == "affirm" and not backs_out(text)):
            return {"confirm_details": "yes"}
        field = field_from_text(tracker.get_slot("detail_field"))
        if field == "phone":
            try:
                return {"phone": phone_from_text(text), "confirm_details": None}
            except ValueError as error:
                if _PHONE_IN_TEXT.search(text):  # a new number, mistyped: say so, keep the old
                    dispatcher.utter_message(response="utter_hint_phone", error=str(error))
                    return {"confirm_details": None}
        elif field == "address" and (address := address_from_text(text)) is not None:
            return {"address": address, "confirm_details": None}
        if backs_out(text) or intent == "deny":
            return {"confirm_details": None, "form_cancelled": True, "requested_slot": None}
        dispatcher.utter_message(response="utter_hint_confirm_details")
        return {"confirm_details": None}


class ActionAskConfirmDetails(Action):
    """Read the change back before it is written: "I'll change your phone number to …"."""

    def name(self) -> str:
        return "action_ask_confirm_details"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        ask_confirm_details(dispatcher, tracker)
        return []


def ask_confirm_details(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Read the pending change back and ask whether to save it."""
    field = field_from_text(tracker.get_slot("detail_field"))
    if field is None:
        dispatcher.utter_message(response="utter_details_lost")
        return
    dispatcher.utter_message(response=f"utter_read_back_{field}", value=tracker.get_slot(field))


class ActionSaveDetails(Action):
    """Store the new phone number or address on the identified customer."""

    def name(self) -> str:
        return "action_save_details"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        field = field_from_text(tracker.get_slot("detail_field"))
        value = tracker.get_slot(field) if field else None
        customer_id = verified_customer_of(tracker)
        reset = end_of_task(tracker, DETAIL_SLOTS)
        if was_cancelled(tracker):
            return finish_cancelled(dispatcher, tracker, DETAIL_SLOTS,
                                    response=f"utter_details_kept_{field or 'details'}")
        if customer_id is None:
            dispatcher.utter_message(response="utter_not_verified")
            return reset
        if field is None or value is None:
            dispatcher.utter_message(response="utter_details_lost")
            return reset
        with services().sessions.begin() as session:
            customers.update(session=session, customer_id=customer_id, actor=audit.BOT,
                             **{field: value})
        dispatcher.utter_message(response=f"utter_details_saved_{field}", value=value)
        return reset
