"""What every task form shares: reading a reply as an answer, a question, or a change of mind.

A form asks for one thing at a time. Whatever the NLU thought of the reply, each slot's
validation first asks the questions a person would:

* Is it a question? ("what would Business cost for 25 of us?") — answer it from the FAQ and
  ask again; it is never stored as the value.
* Is the customer backing out? ("hmm actually no", "never mind", "no thanks, that's all") —
  end the form; its submit action then says that nothing was changed.
* Otherwise, does it look like an answer to *this* question? Each form's own parser decides.

`RelayFormValidation` is the base of the four forms' validation actions.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.runtime import services
from actions.tone import tone_of

_QUESTION_START = re.compile(
    r"^(?:so |and |but |ok(?:ay)?,? |hmm,? |wait,? )?(?:what|what's|whats|how|why|when|where|"
    r"which|who|can|could|do|does|did|is|are|will|would|should|may|isn't|aren't|don't)\b",
    re.IGNORECASE,
)
_FILLER = r"^\s*(?:(?:hmm+|um+|uh+|oh|ah|well|sorry|wait|ok(?:ay)?|so|erm)[,.!]*\s+)*"
# At the start of the reply ("hmm actually no, we're moving next month", "no thanks, that's
# all I needed", "cancel"), or anywhere for phrases that only ever mean "leave it".
_BACK_OUT = re.compile(
    _FILLER + r"(?:actually,? no|actually,? not|actually,? never ?mind|no thanks|no thank you|"
    r"no,? (?:it's|its) fine|not now|not anymore|cancel|stop|skip (?:it|this|that)|leave it|"
    r"don'?t bother|no need|(?:no|nope|nah)\s*[.!]*\s*$|(?:no|nope|nah),? not (?:now|today|yet))"
    r"|\b(?:never ?mind|nevermind|forget (?:it|that|about it)|changed my mind|that'?s all i|"
    r"i'?m done|not interested)\b",
    re.IGNORECASE,
)
CANCELLED = "form_cancelled"
# Intents under which a reply that is not an answer may be a question to look up.
QUESTION_INTENTS = frozenset({"ask_question", "nlu_fallback"})
# Intents that are usually not answers but that the NLU gives to plain answers now and then
# ("I'm Dana Scully" → complain, "Kim Lee" → greet). Under them a reply fills the slot only
# when it is unmistakably a value (`strict_<slot>`, else the normal parser); otherwise it gets a
# short answer in kind and the question again. `goodbye` is excluded by the mappings and ends
# the form (rules); it is here for the strict values of forms it does not reach.
SOFT_INTENTS = frozenset({"complain", "greet", "thank", "chitchat", "bot_challenge", "goodbye",
                          "need_help"})
IN_KIND = {"greet": "Hi!", "thank": "You're welcome!", "chitchat": "🙂",
           "bot_challenge": "I'm Relay, the Nimbus Drive assistant — not a human.",
           "need_help": "Happy to help."}
# A complaint the NLU is this sure of, with nothing in it that answers the question, ends the
# form and goes to the complaint handler (actions/complaints.py).
SURE_COMPLAINT = 0.9
ESCALATE = "form_escalated"


def question_shaped(text: str) -> bool:
    """True if the message reads as a question ("…?", or starts like one)."""
    stripped = text.strip()
    return stripped.endswith("?") or bool(_QUESTION_START.match(stripped))


def backs_out(text: str) -> bool:
    """True if the customer is leaving the task ("actually no", "never mind", "no thanks")."""
    return bool(_BACK_OUT.search(text))


def latest_text(tracker: Tracker) -> str:
    """The customer's latest message as typed."""
    return str((tracker.latest_message or {}).get("text") or "")


def answer_if_question(
    dispatcher: CollectingDispatcher, tracker: Tracker, text: str, *, shaped: bool = True
) -> bool:
    """Answer `text` from the FAQ if it is a question the FAQ answers; True if it did.

    With `shaped` the text must also read as a question ("…?", "how …").
    """
    if shaped and not question_shaped(text):
        return False
    from knowledge.runtime.context import decide_in_context

    faq = services().faq
    answered = decide_in_context(faq, text, tracker.get_slot("last_question"))
    if answered.decision.kind != "answer":
        return False
    top = answered.decision.hits[0]
    dispatcher.utter_message(text=top.answer, faq_entry_id=top.entry_id)
    return True


def cancelled(slot: str) -> dict[str, Any]:
    """The slot values that end the form with nothing changed (see submit actions)."""
    return {slot: None, CANCELLED: True, "requested_slot": None}


class RelayFormValidation(FormValidationAction):
    """A form's validation: questions answered, back-outs honoured, then the slot's own check.

    Subclasses implement `parse_<slot>(text, tracker) -> (value | None, hint | None)` and may
    list in QUESTIONS_ARE_ANSWERS the slots whose answer may itself be phrased as a question
    ("the Business plan?", "why won't my files sync?").
    """

    QUESTIONS_ARE_ANSWERS: tuple[str, ...] = ()
    # Slots where an angry reply is still the answer ("your app deleted my files, this is
    # unacceptable" describes the problem); elsewhere it ends the form as a complaint.
    COMPLAINTS_ARE_ANSWERS: tuple[str, ...] = ()
    # Slots where "no" is itself an answer (no budget, no rush): back-outs go to the parser.
    NO_IS_AN_ANSWER: tuple[str, ...] = ()

    @abstractmethod
    def name(self) -> str:
        """validate_<form name>; abstract so the action server does not register this base."""

    async def get_extraction_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """The form's extractions, plus an unmistakable value the NLU mislabelled."""
        events = list(await super().get_extraction_events(dispatcher, tracker, domain))
        requested = tracker.get_slot("requested_slot")
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        strict = getattr(self, f"strict_{requested}", None) if requested else None
        if (strict is None or intent not in (*SOFT_INTENTS, "choose_faq")
                or tracker.get_slot(requested)
                or any(e.get("name") == requested for e in events)):
            return events
        value = strict(latest_text(tracker))
        return [*events, SlotSet(requested, value)] if value is not None else events

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """The domain's slots; none once the customer backed out, so the form ends."""
        if tracker.get_slot(CANCELLED):
            return []
        return domain_slots

    def interpret(
        self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any] | None:
        """The slot update for a question or a back-out; None if the reply is to be parsed.

        Only a reply to this slot's own question is read this way; a value carried over from
        earlier in the conversation (validated when the form starts) is just parsed.
        """
        if tracker.get_slot("requested_slot") != slot:
            return None
        text = latest_text(tracker) or str(value or "")
        if slot not in self.QUESTIONS_ARE_ANSWERS and answer_if_question(dispatcher, tracker, text):
            return {slot: None}
        if slot not in self.NO_IS_AN_ANSWER and backs_out(text):
            return cancelled(slot)
        return None

    def validated(
        self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        *, quiet: bool = False,
    ) -> dict[str, Any]:
        """Interpret, then parse with `parse_<slot>`; a hint is said when the parse fails.

        `quiet` drops the hint, for a reply that was about something else (a correction).
        """
        early = self.interpret(slot, value, dispatcher, tracker)
        if early is not None:
            return early
        answering = tracker.get_slot("requested_slot") == slot
        intent, confidence = _intent(tracker)
        text = latest_text(tracker) if answering else str(value or "")
        if answering and slot not in self.COMPLAINTS_ARE_ANSWERS and tone_of(text).upset:
            return {**cancelled(slot), ESCALATE: True}
        parsed = None
        strict = getattr(self, f"strict_{slot}", None)
        if answering and intent in SOFT_INTENTS and strict is not None:
            parsed, hint = strict(text), None
        else:
            parsed, hint = getattr(self, f"parse_{slot}")(str(value or ""), tracker)
        if parsed is not None or not answering:
            return {slot: parsed}
        # Not an answer, and the NLU heard a question: "I forgot my password" at the email
        # prompt is answered, then the form asks again.
        if (slot not in self.QUESTIONS_ARE_ANSWERS and intent in QUESTION_INTENTS
                and answer_if_question(dispatcher, tracker, text, shaped=False)):
            return {slot: None}
        if intent == "complain" and confidence >= SURE_COMPLAINT:
            return {**cancelled(slot), ESCALATE: True}
        if intent in IN_KIND:
            dispatcher.utter_message(text=IN_KIND[intent])
        elif hint and not quiet:
            dispatcher.utter_message(text=hint)
        return {slot: None}



def _intent(tracker: Tracker) -> tuple[str | None, float]:
    intent = (tracker.latest_message or {}).get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)


def end_of_task(tracker: Tracker, slots: tuple[str, ...]) -> list[EventType]:
    """Events that forget a finished or abandoned task's answers."""
    return [SlotSet(slot, None) for slot in (*slots, "pending_task")] + [
        SlotSet(CANCELLED, False), SlotSet(ESCALATE, False)]


def finish_cancelled(
    dispatcher: CollectingDispatcher, tracker: Tracker, slots: tuple[str, ...], *,
    text: str | None = None, response: str | None = None,
) -> list[EventType]:
    """End an abandoned task: say so (`text` or `response`) — or, after a complaint, hand it on."""
    events = end_of_task(tracker, slots)
    if tracker.get_slot(ESCALATE):
        return [*events, FollowupAction("action_handle_complaint")]
    dispatcher.utter_message(text=text, response=response)
    return events


def was_cancelled(tracker: Tracker) -> bool:
    """True if the form that just ended was abandoned by the customer."""
    return bool(tracker.get_slot(CANCELLED))
