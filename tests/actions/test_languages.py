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
