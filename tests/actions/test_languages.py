"""The customer's language: detected per message into the slot; answers said in it."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.languages import ActionDetectLanguage, language_of, say_answer
from knowledge.runtime.engine import Hit
from tests.actions.conftest import form_tracker, texts, tracker


async def _detect(t: Tracker) -> list[dict[str, Any]]:
    return await ActionDetectLanguage().run(CollectingDispatcher(), t, {})


async def test_the_slot_follows_the_customers_language(sessions: Any) -> None:
    assert await _detect(tracker(text="¿cuánto cuesta el plan pro?")) == [
        SlotSet("language", "es")]
    assert await _detect(tracker(text="如何重置密码?", slots={"language": "es"})) == [
        SlotSet("language", "zh")]
    # Unchanged, or too short to tell: no event.
    assert await _detect(tracker(text="muchas gracias", slots={"language": "es"})) == []
    assert await _detect(tracker(text="ok", slots={"language": "de"})) == []


async def test_buttons_and_form_answers_keep_it_and_the_widgets_switch_sets_it(
    sessions: Any,
) -> None:
    assert await _detect(tracker(text="/affirm", slots={"language": "fr"})) == []
    answer = form_tracker("identify_form", "customer_name", "João Pereira",
                          slots={"language": "es"})
    assert await _detect(answer) == []
    chosen = tracker(text="how much is pro?", slots={"language": "es"},
                     metadata={"language": "pt-BR"})
    assert await _detect(chosen) == [SlotSet("language", "pt")]
    hinted = tracker(text="😀", metadata={"language_hint": "de-DE,de;q=0.9"})
    assert await _detect(hinted) == [SlotSet("language", "de")]



async def test_a_name_that_ends_one_form_and_starts_the_next_keeps_the_language(
    sessions: Any,
) -> None:
    """Rasa runs the mapping again when the identification hands over to the problem form in
    the same turn; no form is asking by then, but the name was an answer (seen on the real
    stack: "Ola Nordmann" turned an English conversation German)."""
    latest = {"text": "Ola Nordmann", "intent": {"name": "inform", "confidence": 0.9},
              "entities": [], "metadata": {}}
    handed_over = Tracker.from_dict({
        "sender_id": "rest-test", "slots": {"language": "en"}, "latest_message": latest,
        "events": [
            {"event": "active_loop", "name": "identify_form"},
            {"event": "slot", "name": "requested_slot", "value": "customer_name"},
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": "Ola Nordmann", "parse_data": latest},
            {"event": "slot", "name": "customer_name", "value": "Ola Nordmann"},
            {"event": "active_loop", "name": None},
            {"event": "slot", "name": "requested_slot", "value": None},
            {"event": "action", "name": "action_identify_customer"},
        ],
        "active_loop": {}, "latest_action_name": "action_identify_customer",
    })
    assert await _detect(handed_over) == []
    assert await _detect(tracker(text="Ola Nordmann", slots={"language": "en"})) == [
        SlotSet("language", "de")]  # outside a form the same words would switch it

def test_unknown_languages_read_as_the_default() -> None:
    assert language_of(tracker(slots={"language": "xx"})) == "en"
    assert language_of(tracker(slots={"language": "zh"})) == "zh"


def test_answers_are_said_in_the_language_or_say_they_are_not() -> None:
    hit = Hit("pro-price", "Pro costs $8.", "How much is Pro?", 0.9,
              answers={"es": "Pro cuesta 8 $."})
    dispatcher = CollectingDispatcher()
    say_answer(dispatcher, hit, "es")
    say_answer(dispatcher, hit, "de")
    say_answer(dispatcher, hit, "en")
    assert [m["faq_entry_id"] for m in dispatcher.messages] == ["pro-price"] * 3
    english = texts(dispatcher)
    assert english[0] == "Pro cuesta 8 $." and english[2] == "Pro costs $8."
    assert english[1].endswith("\n\nPro costs $8.")  # German: not translated, and it says so
    assert dispatcher.messages[1]["response"] == "utter_answer_untranslated"
