"""Which language a customer writes in: lingua, limited to Relay's languages, and the rule that
keeps a conversation's language when a message says too little to tell.

lingua-language-detector (Apache-2.0) was measured best on very short messages (phase 1,
docs/multilingual.md: 90 % of 72 greetings, thanks, yes/no… and 99.7 % of 384 questions;
0.1-0.5 ms a message). Its misses are words that really are ambiguous ("merci" → es, "hallo" →
en, "tchau" → de), and they come with low confidence (0.34-0.51), while questions score 0.55
and up (5th percentile per language) — so a conversation switches language only on a confident
message (MIN_SWITCH_CONFIDENCE), and while a form waits for a value (a name, an address, an
email) it keeps its language whatever the value looks like ("João Pereira" is Portuguese with
confidence 1.0). The first message of a conversation is taken at its best guess, or at the
customer's client language (browser, Telegram) when the guess is not confident.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# A message this surely in another language switches the conversation to it (see above: the
# wrong guesses on short messages scored at most 0.51, all but 3 % of questions 0.55 or more).
MIN_SWITCH_CONFIDENCE = 0.55
# Markup, code, links and addresses are in no language: "</textarea><svg onload=alert(2)>" was
# guessed Portuguese, surely, and the conversation switched to it for good.
_NOT_WORDS = re.compile(r"<[^>]*>|\b\w+=\S*|https?://\S+|\S+@\S+|\w+\([^)]*\)")


@dataclass(frozen=True)
class Guess:
    """The most likely language of a text and lingua's confidence in it (0 to 1); language is
    None for a text without letters (emoji, numbers, punctuation)."""

    language: str | None
    confidence: float

    @property
    def sure(self) -> bool:
        """Confident enough to switch a conversation to this language."""
        return self.language is not None and self.confidence >= MIN_SWITCH_CONFIDENCE


class LanguageDetector:
    """lingua restricted to the given languages (ISO 639-1 codes); built once at start-up."""

    def __init__(self, languages: Sequence[str], default: str) -> None:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        self.languages = tuple(languages)
        self.default = default
        wanted = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
                  for code in self.languages]
        self._detector: Any = (LanguageDetectorBuilder.from_languages(*wanted)
                               .with_preloaded_language_models().build())

    def guess(self, text: str) -> Guess:
        """The most likely of the languages for text, with its confidence."""
        words = _NOT_WORDS.sub(" ", text)
        if not any(ch.isalpha() for ch in words):
            return Guess(None, 0.0)
        values = self._detector.compute_language_confidence_values(words)
        if not values or values[0].value <= 0.0:
            return Guess(None, 0.0)
        return Guess(values[0].language.iso_code_639_1.name.lower(), float(values[0].value))

    def language_of(
        self, text: str, *, current: str | None, chosen: str | None = None,
        hint: str | None = None, answering: bool = False,
    ) -> str:
        """The conversation's language after this message.

        chosen: the language the customer picked (the widget's switch) — it wins; current: the
        conversation's language so far; hint: the customer's client language (browser,
        Telegram), for a first message that says too little (without one: the default);
        answering: a form is waiting for a value, which never changes the language.
        """
        if chosen in self.languages:
            return str(chosen)
        known = current if current in self.languages else None
        fallback = hint if hint in self.languages else None
        if known is not None and answering:
            return known
        guess = self.guess(text)
        if guess.language is None:
            return known or fallback or self.default
        if known is None:
            # An unsure guess on a first message is no better than chance ("hello" is guessed
            # Spanish, "agent" French, "restart" German): the client's language, or the default.
            return guess.language if guess.sure else fallback or self.default
        return guess.language if guess.sure else known
