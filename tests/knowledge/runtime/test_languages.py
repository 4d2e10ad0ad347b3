"""Language detection: lingua on Relay's six languages, and when a conversation switches."""

from __future__ import annotations

import pytest
import yaml

from knowledge.runtime.languages import MIN_SWITCH_CONFIDENCE, LanguageDetector
from relay.languages import CODES, DEFAULT
from relay.settings import ROOT

EVAL = ROOT / "knowledge" / "eval"


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(CODES, DEFAULT)


def test_questions_are_detected_and_sure(detector: LanguageDetector) -> None:
    items = yaml.safe_load((EVAL / "multilingual_faq.yml").read_text())["queries"]
    guesses = [(lang, detector.guess(item[lang])) for item in items for lang in CODES]
    right = sum(g.language == lang for lang, g in guesses)
    sure_and_right = sum(g.language == lang and g.sure for lang, g in guesses)
    assert right >= 0.99 * len(guesses)
    assert sure_and_right >= 0.9 * len(guesses)  # most questions switch a conversation


def test_short_messages_guessed_wrong_are_never_sure(detector: LanguageDetector) -> None:
    """The switch threshold is set so that lingua's misses on greetings, thanks, yes/no and
    goodbyes ("merci" → es, "hallo" → en) cannot switch a conversation's language."""
    short = yaml.safe_load((EVAL / "language_id.yml").read_text())["short_messages"]
    wrong = [(text, g) for lang, texts in short.items() for text in texts
             if (g := detector.guess(text)).language != lang]
    assert wrong, "lingua got every short message right: the threshold needs a new reason"
    assert all(g.confidence < MIN_SWITCH_CONFIDENCE for _, g in wrong), wrong


def test_a_conversation_keeps_its_language_unless_a_message_is_sure(
    detector: LanguageDetector,
) -> None:
    of = detector.language_of
    assert of("¿cuánto cuesta el plan pro?", current=None) == "es"
    assert of("wie setze ich mein Passwort zurück?", current="es") == "de"  # sure: switches
    assert of("merci", current="de") == "de"  # lingua says es, unsure: kept
    assert of("ok", current="pt") == "pt"
    assert of("如何重置密码?", current="en") == "zh"


def test_values_in_a_form_never_switch_and_a_choice_always_does(
    detector: LanguageDetector,
) -> None:
    of = detector.language_of
    assert detector.guess("João Pereira").sure  # a Portuguese name, surely Portuguese…
    assert of("João Pereira", current="es", answering=True) == "es"  # …but it is an answer
    assert of("Hauptstraße 5, 10115 Berlin", current="fr", answering=True) == "fr"
    assert of("João Pereira", current=None, answering=True) == "pt"  # nothing to keep yet
    assert of("how much is pro?", current="es", chosen="fr") == "fr"  # the widget's switch
    assert of("I forgot my password, how do I reset it?", current="es", chosen="xx") == "en"


def test_first_messages_without_letters_or_certainty_use_the_clients_language(
    detector: LanguageDetector,
) -> None:
    of = detector.language_of
    assert of("😀", current=None) == DEFAULT
    assert of("😀", current=None, hint="zh") == "zh"
    assert of("42", current="de", hint="zh") == "de"
    assert of("merci", current=None, hint="fr") == "fr"  # unsure guess (es): the browser's
    # no client language: an unsure guess is chance ("hello" → es, "agent" → fr), so English
    for word in ("hello", "agent", "no", "restart", "cancel", "merci"):
        assert not detector.guess(word).sure
        assert of(word, current=None) == DEFAULT, word
    assert of("hola", current=None, hint="xx") == DEFAULT
    assert of("bonjour", current=None) == "fr"  # a sure first word still counts
    assert of("¿cuánto cuesta el plan pro?", current=None) == "es"


@pytest.mark.parametrize("text", ["</textarea><svg onload=alert(2)>",
                                  "<img src=x onerror=alert(1)>", "https://example.com/a?b=c",
                                  "ana@example.com", "alert(document.cookie)"])
def test_markup_links_and_addresses_never_switch_the_language(
    detector: LanguageDetector, text: str,
) -> None:
    """Markup was guessed Portuguese, surely, and the conversation stayed Portuguese."""
    assert detector.language_of(text, current="en") == "en"
    assert detector.language_of(f"{text} wie viel kostet Pro?", current="en") == "de"
