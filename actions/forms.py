"""What every task form shares: reading a reply as an answer, a question, or a change of mind.

A form asks for one thing at a time. Whatever the NLU thought of the reply, each slot's
validation first asks the questions a person would:

* Is it a question? ("what would Business cost for 25 of us?") — answer it from the FAQ and
  ask again; it is never stored as the value.
* Is the customer backing out? ("hmm actually no", "never mind", "no thanks, that's all") —
  end the form; its submit action then says that nothing was changed.
* Otherwise, does it look like an answer to *this* question? Each form's own parser decides.

`RelayFormValidation` is the base of the four forms' validation actions (identify_form's code
step included: actions/identify.py).
"""

from __future__ import annotations

import re
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.languages import faq_for, language_of, say_answer
from actions.tone import ASKED_FOR_PERSON, mistyped_person, tone_of

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
# Below this the NLU's small talk at a form's prompt gets the prompt's hint instead: "we are
# moving soon" at the address prompt read as bot_challenge at 0.80 after a retrain.
SURE_IN_KIND = 0.9
IN_KIND = {"greet": "utter_in_form_greet", "thank": "utter_in_form_thank",
           "chitchat": "utter_in_form_chitchat", "bot_challenge": "utter_in_form_bot_challenge",
           "need_help": "utter_in_form_need_help"}  # domain.yml responses
# A complaint the NLU is this sure of, with nothing in it that answers the question, ends the
# form and goes to the complaint handler (actions/complaints.py).
SURE_COMPLAINT = 0.9
ESCALATE = "form_escalated"


@dataclass(frozen=True)
class Hint:
    """What to say when a reply is not an answer: a domain.yml response (in the customer's
    language, as Rasa picks it) and the values it names."""

    response: str
    values: dict[str, Any] = field(default_factory=dict)


# The same in the other languages (relay/languages.py): how a question starts, and what
# "leave it" sounds like. Chinese has no spaces, so its words are matched anywhere.
_QUESTION_START_OTHER = re.compile(
    r"^(?:¿|(?:y |und |et |e )?(?:cómo|cuánto|cuánta|cuántos|cuándo|dónde|por qué|qué|cuál|"
    r"puedo|se puede|wie|was|warum|wann|wo|welche[rsn]?|kann|können|gibt es|comment|combien|"
    r"pourquoi|quand|où|quel(?:le)?s?|est-ce|puis-je|peut-on|y a-t-il|como|quanto|quanta|"
    r"quando|onde|por que|o que|qual|posso|dá para)\b)",
    re.IGNORECASE,
)
_QUESTION_WORDS_ZH = ("吗", "怎么", "如何", "什么", "哪", "多少", "为什么", "能否", "是否",
                      "能不能", "可不可以", "有没有")
_BACK_OUT_OTHER = re.compile(
    r"\b(?:olvídalo|déjalo|cancela(?:r)?|ya no|mejor no|no,? gracias|cambié de opinión|"
    r"abbrechen|vergiss es|lass es|doch nicht|nein,? danke|nicht mehr|anders überlegt|"
    r"annule[rz]?|laisse tomber|oublie(?:z)? (?:ça|ca)|non,? merci|changé d'avis|"
    r"esquece|deixa pra lá|não,? obrigad[oa]|mudei de ideia|desisto)\b"
    r"|^\s*(?:nein|non|não)\s*[.!]*\s*$|取消|算了|不用了|不要了|不办了|改主意",
    re.IGNORECASE,
)


def question_shaped(text: str) -> bool:
    """True if the message reads as a question (ends with a question mark, or starts like one),
    in any of Relay's languages."""
    stripped = text.strip()
    return (stripped.endswith(("?", "？")) or bool(_QUESTION_START.match(stripped))
            or bool(_QUESTION_START_OTHER.match(stripped))
            or any(word in stripped for word in _QUESTION_WORDS_ZH))


def backs_out(text: str) -> bool:
    """True if the customer is leaving the task ("actually no", "never mind", "no thanks"), in
    any of Relay's languages."""
    return bool(_BACK_OUT.search(text) or _BACK_OUT_OTHER.search(text))


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

    answered = decide_in_context(faq_for(tracker, text), text, tracker.get_slot("last_question"))
    if answered.decision.kind != "answer":
        return False
    say_answer(dispatcher, answered.decision.hits[0], language_of(tracker))
    return True


def cancelled(slot: str) -> dict[str, Any]:
    """The slot values that end the form with nothing changed (see submit actions)."""
    return {slot: None, CANCELLED: True, "requested_slot": None}


class RelayFormValidation(FormValidationAction):
    """A form's validation: questions answered, back-outs honoured, then the slot's own check.

    Subclasses implement `parse_<slot>(text, tracker) -> (value | None, Hint | None)` and may
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
            if parsed is None and confidence < SURE_IN_KIND:  # unsure small talk: the hint
                parsed, hint = getattr(self, f"parse_{slot}")(str(value or ""), tracker)
        else:
            parsed, hint = getattr(self, f"parse_{slot}")(str(value or ""), tracker)
        if parsed is not None or not answering:
            return {slot: parsed}
        if mistyped_person(text):  # "gent" at the email prompt: "agent", mistyped (the NLU
            return cancelled(slot)  # knows the word, and a rule hands off; it misses typos)
        # Not an answer, and the NLU heard a question: "I forgot my password" at the email
        # prompt is answered, then the form asks again.
        if (slot not in self.QUESTIONS_ARE_ANSWERS and intent in QUESTION_INTENTS
                and answer_if_question(dispatcher, tracker, text, shaped=False)):
            return {slot: None}
        if intent == "complain" and confidence >= SURE_COMPLAINT:
            return {**cancelled(slot), ESCALATE: True}
        if intent in IN_KIND and (confidence >= SURE_IN_KIND or hint is None):
            dispatcher.utter_message(response=IN_KIND[intent])
        elif hint is not None and not quiet:
            dispatcher.utter_message(response=hint.response, **hint.values)
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
    """End an abandoned task: say so (`text` or `response`) — or, after a complaint, hand it on,
    and after a mistyped request for a person, hand off."""
    events = end_of_task(tracker, slots)
    if tracker.get_slot(ESCALATE):
        return [*events, FollowupAction("action_handle_complaint")]
    if mistyped_person(latest_text(tracker)):
        return [*events, SlotSet("handoff_reason", ASKED_FOR_PERSON),
                FollowupAction("action_handoff")]
    dispatcher.utter_message(text=text, response=response)
    return events


def was_cancelled(tracker: Tracker) -> bool:
    """True if the form that just ended was abandoned by the customer."""
    return bool(tracker.get_slot(CANCELLED))
