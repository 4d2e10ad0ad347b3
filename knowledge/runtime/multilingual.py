"""The FAQ in every language: MiniLM's index answers English, multilingual-e5's the others.

One model cannot serve both without English getting worse (docs/multilingual.md: e5 on
BANKING77 90.9 % top-1 against MiniLM's 92.35 %; MiniLM on the other languages 12-38 %), so the
same FAQ is indexed twice, once per model, and each message is searched with one of them:
MiniLM only when both the conversation and the message itself are English, e5 otherwise (e5 is
nearly as good on English, 93.8 % against 95.3 % on the demo FAQ, so a doubt goes its way).
Both indexes hold every paraphrase, whatever its language. Without a multilingual model
configured (RELAY_MULTILINGUAL_MODEL=""), MiniLM answers everything.

faq = MultilingualFaq.from_settings(settings)          # at start-up: both engines
engine = faq.engine_for("es", "es")                    # conversation language, message's guess
faq.reload_if_changed()                                # both indexes: one stat() each
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from knowledge.runtime.engine import FaqEngine, Hit

if TYPE_CHECKING:
    from relay.settings import Settings

ENGLISH = "en"


@dataclass
class MultilingualFaq:
    """The English engine and, if configured, the multilingual one."""

    english: FaqEngine
    multilingual: FaqEngine | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> MultilingualFaq:
        """Both engines, as settings.indexes() names them (English first)."""
        engines = [FaqEngine.load(index_dir, model, settings.models_dir,
                                  correct_spelling=model == settings.embedding_model)
                   for model, index_dir in settings.indexes()]
        return cls(engines[0], engines[1] if len(engines) > 1 else None)

    @property
    def engines(self) -> list[FaqEngine]:
        """Every engine served."""
        return [self.english] + ([self.multilingual] if self.multilingual else [])

    def engine_for(self, *languages: str | None) -> FaqEngine:
        """The engine for a message: English if every known language (the conversation's, the
        message's own guess) is English, else the multilingual one."""
        if self.multilingual is None or all(lang in (None, ENGLISH) for lang in languages):
            return self.english
        return self.multilingual

    def entry(self, entry_id: str) -> Hit | None:
        """An entry by id (a "did you mean" choice)."""
        return self.english.entry(entry_id)

    def reload_if_changed(self) -> bool:
        """Reload whichever index was rebuilt; True if one was."""
        return any([engine.reload_if_changed() for engine in self.engines])
