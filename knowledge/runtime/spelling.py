"""Typo correction before a query is encoded: "forgot pasword lol" → "forgot password lol".

The sentence encoder splits a misspelt word into sub-word pieces that mean little
("pas", "##word"), so one typo can turn a sure answer into a decline. SymSpell (symspellpy,
MIT) corrects each unknown word to the closest word of the FAQ's own vocabulary first, then of
the common English words its packaged frequency list holds. A word that is itself common
English is left alone, and a message that is mostly not English (another language, a product
code) is not touched at all.

speller = Speller.from_texts(faq_texts)      # at index load, ~0.5 s
speller.correct("how do i cancle my subscripton")  # "how do i cancel my subscription"
"""

from __future__ import annotations

import importlib.resources
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

WORD = re.compile(r"[^\W\d_]+")
MIN_LENGTH = 4  # shorter words have too many neighbours to correct safely
COMMON_ENGLISH = 1_000_000  # corpus count from which an English word is a correction target
REAL_WORD_RATIO = 50  # a known word this close in frequency to the candidate is kept as typed
MIN_KNOWN_SHARE = 0.5  # below this share of known words the message is not treated as English


@lru_cache(maxsize=1)
def english_counts() -> dict[str, int]:
    """Word → corpus count from symspellpy's packaged English frequency list (82,765 words)."""
    path = importlib.resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    counts: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        word, _, count = line.partition(" ")
        counts[word] = int(count)
    return counts


@dataclass
class Speller:
    """Corrects unknown words towards the FAQ vocabulary, then towards common English."""

    domain: Counter[str]
    english: dict[str, int]

    def __post_init__(self) -> None:
        from symspellpy import SymSpell

        self._symspell = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        for word, count in self.english.items():
            if count >= COMMON_ENGLISH and len(word) >= MIN_LENGTH - 1 and word not in self.domain:
                self._symspell.create_dictionary_entry(word, count // COMMON_ENGLISH)
        for word in self.domain:
            if len(word) >= MIN_LENGTH - 1:
                # Domain words outrank any English word at the same distance.
                self._symspell.create_dictionary_entry(word, 10**6 + self.domain[word])

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Speller:
        """A speller whose domain vocabulary is every word of `texts` (questions, answers)."""
        domain: Counter[str] = Counter()
        for text in texts:
            domain.update(WORD.findall(text.lower()))
        return cls(domain=domain, english=english_counts())

    def known(self, word: str) -> bool:
        """True if the word is in the FAQ's vocabulary or in the English list."""
        return word in self.domain or word in self.english

    def _suggest(self, word: str) -> str | None:
        from symspellpy import Verbosity

        if len(word) < MIN_LENGTH or word in self.domain:
            return None
        suggestions = self._symspell.lookup(
            word, Verbosity.CLOSEST, max_edit_distance=1 if len(word) <= 5 else 2
        )
        if not suggestions:
            return None
        best = max(suggestions, key=lambda s: s.count)
        if best.term == word:
            return None
        typed = self.english.get(word, 0)
        target = self.english.get(best.term, 0) or COMMON_ENGLISH
        if typed * REAL_WORD_RATIO > target:
            return None  # "prise", "store": a real word, not a typo of a rarer one
        return str(best.term)

    def correct(self, text: str) -> str:
        """The text with its misspelt words corrected; unchanged if it is mostly not English."""
        words = [w.lower() for w in WORD.findall(text)]
        if not words or not all(w.isascii() for w in words):
            return text  # accented or non-Latin letters: not English, leave it to the encoder
        known = sum(1 for w in words if self.known(w))
        if known == 0 or (len(words) > 3 and known < MIN_KNOWN_SHARE * len(words)):
            return text
        fixes = {w: s for w in set(words) if (s := self._suggest(w)) is not None}
        if not fixes:
            return text
        return WORD.sub(lambda m: fixes.get(m.group(0).lower(), m.group(0)), text)
