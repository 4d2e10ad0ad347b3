"""Support cases from the conversation: report a problem, check the status of my cases."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.channels import channel_of
from actions.forms import Hint, RelayFormValidation, end_of_task, finish_cancelled, was_cancelled
from actions.identify import customer_id_of, verified_customer_of
from actions.languages import language_of
from actions.runtime import services
from crm_store import audit, cases, conversations, verification
from crm_store.enums import CaseStatus
from crm_store.models import OPEN_CASE_STATUSES
from knowledge.runtime.context import word_count
from relay import responses

MIN_DESCRIPTION_WORDS = 3
# A message typed while the bot asked for the email or name counts as the description when it
# says this much and is neither ("the desktop app crashes every time I open a PDF").
MIN_STRAY_DESCRIPTION_WORDS = 5
# ...and only between the request and the form: the email, the name, a code, a stray sentence.
MAX_MESSAGES_SINCE_REQUEST = 6
# The request itself, which is no description: "please open a support ticket", "I want to
# report a problem", in Relay's languages.
_REQUEST = re.compile(
    r"[,.;!]?\s*(?:(?:please|pls|can you|could you|i want to|i'd like to|i need to|i wanna|"
    r"let me|i'd like|i want)\s+)?(?:(?:open|create|file|raise|log|submit|make|start)\s+"
    r"(?:a|an|me a)?\s*(?:support\s+)?(?:ticket|case|report)|report(?:ing)?\s+(?:a\s+)?"
    r"(?:problem|bug|issue|fault|an issue))(?:\s+(?:for me|for this|about (?:it|this)))?"
    r"(?:,?\s*please)?[.!]?"
    r"|(?:quiero |me gustaría )?(?:abrir|crear) (?:un |una )?(?:ticket|caso|incidencia)"
    r"|(?:ich möchte )?(?:ein(?:en)? )?(?:ticket|fall|problem) (?:eröffnen|melden|anlegen)"
    r"|(?:je veux |je voudrais )?(?:ouvrir|créer|signaler) (?:un |une )?(?:ticket|demande|"
    r"problème)|(?:quero )?(?:abrir|criar|relatar) (?:um |uma )?(?:chamado|ticket|problema)"
    r"|(?:请)?(?:帮我)?(?:开|创建|提交)(?:一个)?(?:工单|问题)",
    re.IGNORECASE)
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

    async def extract_problem_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """What the customer already said about the problem, before it is asked for: the
        request itself ("my sync is broken, please open a support ticket"), or a message typed
        while the bot asked for their email or name. Nothing they said is asked twice."""
        if (tracker.get_slot("problem_description")
                or tracker.get_slot("requested_slot") == "problem_description"):
            return {}
        said = described_before(tracker)
        return {"problem_description": said} if said else {}

    def parse_problem_description(
        self, text: str, tracker: Tracker
    ) -> tuple[str | None, Hint | None]:
        """The description as typed, if it says enough to act on."""
        description = text.strip()
        if word_count(description) < MIN_DESCRIPTION_WORDS:
            return None, Hint("utter_hint_problem_description")
        return description, None

    async def validate_problem_description(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """The description as typed, if it says enough to act on."""
        return self.validated("problem_description", slot_value, dispatcher, tracker)


def described_before(tracker: Tracker) -> str | None:
    """The description in the messages since the customer asked to report a problem (see
    ValidateProblemForm.extract_problem_description), or None."""
    messages: list[tuple[str, str | None]] = []
    for event in reversed(tracker.events):
        if event.get("event") == "action" and event.get("name") == "action_open_problem_case":
            return None  # that request was for a case already opened: this form is another's
        if event.get("event") != "user":
            continue
        if len(messages) > MAX_MESSAGES_SINCE_REQUEST:
            return None  # not the request that started this form
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        messages.append((str(event.get("text") or ""), intent))
        if intent == "report_problem":
            break
    else:
        return None
    request, *later = reversed(messages)
    kept = []
    remainder = _REQUEST.sub(" ", request[0]).strip(" ,.;!:?")
    if word_count(remainder) >= MIN_DESCRIPTION_WORDS:
        kept.append(remainder)
    name = str(tracker.get_slot("customer_name") or "").lower()
    for text, intent in later:
        if (word_count(text) >= MIN_STRAY_DESCRIPTION_WORDS and "@" not in text
                and intent not in ("affirm", "deny", "greet", "goodbye", "stop", "ask_human")
                and (not name or name not in text.lower())):
            kept.append(text.strip())
    return "\n".join(kept) or None


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
                                    response="utter_problem_cancelled")
        description = str(tracker.get_slot("problem_description") or "").strip()
        if not description:
            dispatcher.utter_message(response="utter_problem_lost")
            return reset
        conversation_id = tracker.sender_id
        channel = channel_of(conversation_id, (tracker.latest_message or {}).get("metadata"))
        with services().sessions.begin() as session:
            conversations.get_or_create(session=session, conversation_id=conversation_id,
                                        channel=channel)
            verified = verification.verified_customer_id(session=session,
                                                         conversation_id=conversation_id)
            customer_id = verified or customer_id_of(tracker)
            case = cases.open_case(
                session=session, actor=audit.BOT, subject=subject_of(description),
                description=description,
                type="problem", priority="normal", customer_id=customer_id,
                conversation_id=conversation_id,
                unverified=customer_id is not None and verified is None,
            )
            case_id = case.id
        dispatcher.utter_message(response="utter_case_opened", case_id=case_id)
        return reset


# "can you close case 657?", "the problem is solved, you can close it", in Relay's languages.
_CLOSE_CASE = re.compile(
    r"\b(?:close|cancel|resolve)\b[^.?!]{0,30}\b(?:case|ticket|request)\b"
    r"|\b(?:case|ticket)\b[^.?!]{0,30}\b(?:can|could|may) be closed\b"
    r"|\b(?:you can|you may|please|feel free to) close (?:it|this|that)\b"
    r"|\bcerrar? (?:el |mi |este )?(?:caso|ticket|incidencia)|\bpuedes cerrarlo\b"
    r"|\b(?:fall|ticket|anfrage)\b[^.?!]{0,20}\bschließen|\bkönnen (?:sie|ihn|es) schließen\b"
    r"|\bfermer (?:le |mon |ma |cette )?(?:ticket|dossier|demande)|\bvous pouvez (?:le|la) fermer\b"
    r"|\bfechar (?:o |meu |este )?(?:chamado|ticket|caso)|\bpode fechar\b"
    r"|关闭(?:这个|我的)?工单|把工单关(?:掉|了)|工单可以关(?:闭|掉)?",
    re.IGNORECASE)
_CASE_NUMBER = re.compile(
    r"(?:#|\b(?:case|ticket|fall|caso|chamado|dossier)\s*#?\s*|工单\s*#?\s*)(\d{1,9})",
    re.IGNORECASE)


def asks_to_close_case(text: str) -> bool:
    """Whether the customer asks for a case to be closed ("close ticket 659, it's fixed")."""
    return _CLOSE_CASE.search(text) is not None


def close_case_events(dispatcher: CollectingDispatcher, tracker: Tracker,
                      text: str) -> list[EventType]:
    """Close the case the customer asks about, as solved, if it is theirs: opened in this
    conversation, or one of the verified customer's. Another's, or none: say so."""
    number = _CASE_NUMBER.search(text)
    conversation_id = tracker.sender_id
    with services().sessions.begin() as session:
        verified = verification.verified_customer_id(session=session,
                                                     conversation_id=conversation_id)
        if number is not None:
            case = cases.get(session=session, case_id=int(number.group(1)))
            theirs = case is not None and (case.conversation_id == conversation_id
                                           or (verified is not None
                                               and case.customer_id == verified))
            found = case if theirs else None
        else:
            here = cases.list_open_for_conversation(session=session,
                                                    conversation_id=conversation_id)
            found = here[0] if len(here) == 1 else None
        if found is None or found.status not in OPEN_CASE_STATUSES:
            dispatcher.utter_message(response="utter_close_case_unknown")
            return [SlotSet("pending_task", None)]
        cases.set_status(session=session, case_id=found.id, status=CaseStatus.RESOLVED,
                         actor=audit.BOT)
        case_id = found.id
    dispatcher.utter_message(response="utter_case_closed_for_customer", case_id=case_id)
    return [SlotSet("pending_task", None)]


class ActionListCases(Action):
    """List the identified customer's most recent cases with their status."""

    def name(self) -> str:
        return "action_list_cases"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset: list[EventType] = [SlotSet("pending_task", None)]
        customer_id = verified_customer_of(tracker)
        if customer_id is None:
            dispatcher.utter_message(response="utter_not_verified")
            return reset
        language = language_of(tracker)
        with services().sessions() as session:
            everything = cases.list_for_customer(session=session, customer_id=customer_id)
            # A case someone opened in another chat by typing this email, unverified, is not
            # listed: its subject is whatever they typed (it could be a phishing message).
            found = [case for case in everything
                     if not case.unverified or case.conversation_id == tracker.sender_id]
            lines = [responses.text(f"utter_case_line_{case.status}", language, case_id=case.id,
                                    subject=case.subject)
                     for case in found[:CASES_LISTED]]
        hidden = len(everything) - len(found)
        unverified = ([responses.text("utter_cases_unverified", language, count=hidden)]
                      if hidden else [])
        if not lines:
            dispatcher.utter_message(text="\n".join(
                [responses.text("utter_no_cases", language), *unverified]))
            return reset
        heading = responses.text("utter_cases_heading" if len(lines) > 1
                                 else "utter_case_heading", language)
        if len(found) > CASES_LISTED:
            lines.append(responses.text("utter_cases_older", language,
                                        count=len(found) - CASES_LISTED))
        dispatcher.utter_message(text="\n".join([heading, *lines, *unverified]))
        return reset
