"""The languages Relay speaks: one registry every part asks (the detector, the CRM, the
console, the widget, the response catalogue).

A language is an ISO 639-1 code. English is the default: the FAQ's `answer` fields and the
bot's unconditioned responses are written in it, and it is what a customer gets when nothing
else is known. Adding a language (README, "Languages"): an entry here, its responses in
domain.yml, its NLU examples in bot/data/languages/, and FAQ answers in it where wanted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    """A language: its code, its English name (for agents) and its own name (for customers)."""

    code: str
    english: str
    native: str


DEFAULT = "en"
LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("en", "English", "English"),
        Language("zh", "Chinese (simplified)", "中文"),
        Language("es", "Spanish", "Español"),
        Language("de", "German", "Deutsch"),
        Language("fr", "French", "Français"),
        Language("pt", "Portuguese", "Português"),
    )
}
CODES = tuple(LANGUAGES)


def supported(code: object) -> bool:
    """True if code is one of the registry's language codes."""
    return isinstance(code, str) and code in LANGUAGES


def normalise(code: object) -> str | None:
    """A supported code from what a browser or a Telegram client sends ("pt-BR" → "pt"; an
    Accept-Language header: its first language), else None."""
    if not isinstance(code, str):
        return None
    first = code.split(",")[0].split(";")[0]
    base = first.strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else None


def english_name(code: str | None) -> str:
    """How agents see a language: "Spanish (es)"; "—" when unknown."""
    if code is None:
        return "—"
    lang = LANGUAGES.get(code)
    return f"{lang.english} ({code})" if lang else code
