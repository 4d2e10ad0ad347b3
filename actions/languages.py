"""The customer's language: detected on every message, kept in the `language` slot, used to
search the FAQ and to answer.

Rasa runs `action_detect_language` after each customer message (the slot's custom mapping in
domain.yml, via action_extract_slots), before it predicts anything, so every response of the
turn — rules' utterances, form prompts, actions' messages — is chosen in the language of the
message (domain.yml's variations conditioned on the slot; relay/responses.py for the parts
actions assemble). The rule for when a conversation changes language is
knowledge.runtime.languages.LanguageDetector.language_of; the widget's language switch
(metadata.language) wins, the browser's or Telegram client's language (metadata.language_hint)
helps a first message that says too little. The CRM learns the slot's changes from Rasa's
event stream (crm_store.ingest) and shows them to agents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.runtime import services
from relay import languages

if TYPE_CHECKING:
    from knowledge.runtime.engine import FaqEngine, Hit

SLOT = "language"


def language_of(tracker: Tracker) -> str:
    """The conversation's language (the slot), or the default."""
    value = tracker.get_slot(SLOT)
    return value if languages.supported(value) else languages.DEFAULT


def faq_for(tracker: Tracker, text: str) -> FaqEngine:
    """The FAQ engine for a message: e5's index unless conversation and message are English.

    The message counts only when lingua is sure of it: in an English conversation, "does it
    work on linux? im on ubuntu 22.04" is guessed German at 0.35, and e5 then asked "did you
    mean" where MiniLM answers (bot/tests/conversations/what_happened_before.yml).
    """
    found = services()
    guess = found.languages.guess(text)
    return found.faq.engine_for(language_of(tracker), guess.language if guess.sure else None)


def say_answer(dispatcher: CollectingDispatcher, hit: Hit, language: str,
               again_for: tuple[FaqEngine, str] | None = None, **metadata: Any) -> None:
    """Send an FAQ answer in the customer's language; without a translation, in the entry's own
    language with a sentence in theirs that says so and offers a person. metadata (the FAQ
    outcome and score) travels with it.

    again_for (engine, follow-up): the answer was just given and a follow-up landed on it
    again ("and per year?" after the Pro price): say the part of it that speaks to the
    follow-up, as such, instead of the same text twice.
    """
    text, written_in = hit.answer_in(language)
    # faq_entry_id travels in the bot event's metadata to the CRM's interaction log.
    if again_for is not None:
        from knowledge.runtime.context import relevant_part

        part = relevant_part(again_for[0], text, again_for[1])
        dispatcher.utter_message(response="utter_answer_again", answer=part,
                                 faq_entry_id=hit.entry_id, **metadata)
    elif written_in == language:
        dispatcher.utter_message(text=text, faq_entry_id=hit.entry_id, **metadata)
    else:
        dispatcher.utter_message(response="utter_answer_untranslated", answer=text,
                                 faq_entry_id=hit.entry_id, **metadata)


class ActionDetectLanguage(Action):
    """Set the `language` slot from the customer's latest message (when it changes)."""

    def name(self) -> str:
        return "action_detect_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        message = tracker.latest_message or {}
        text = str(message.get("text") or "")
        metadata = message.get("metadata") or {}
        current = tracker.get_slot(SLOT)
        chosen = languages.normalise(metadata.get("language"))
        if text.startswith("/") and chosen is None:
            return []  # a button's payload says nothing about the language
        language = services().languages.language_of(
            text,
            current=current,
            chosen=chosen,
            hint=languages.normalise(metadata.get("language_hint")),
            answering=asked_for_a_value(tracker),
        )
        return [] if language == current else [SlotSet(SLOT, language)]


def asked_for_a_value(tracker: Tracker) -> bool:
    """True if a form was waiting for a value when the customer wrote their latest message.

    Read from the events, not from the current state: Rasa also runs this mapping when a form
    hands over to the next in the same turn ("Ola Nordmann" ends the identification and starts
    the problem form), and by then no form is asking — the name would switch the language.
    """
    loop: str | None = None
    requested: str | None = None
    answering = False
    for event in tracker.events:
        kind = event.get("event")
        if kind == "active_loop":
            loop = event.get("name")
        elif kind == "slot" and event.get("name") == "requested_slot":
            requested = event.get("value")
        elif kind == "user":
            answering = bool(loop and requested)
    if tracker.active_loop_name and tracker.get_slot("requested_slot"):
        return True
    return answering
