"""What Relay says to customers, in their language: domain.yml's responses, read outside Rasa.

domain.yml is the one catalogue of the bot's words. Each response has an English variation
without a condition (the default) and one variation per other language, conditioned on the
`language` slot::

    utter_greet:
      - text: "Hi! I'm Relay…"
      - text: "¡Hola! Soy Relay…"
        condition: [{type: slot, name: language, value: es}]

Rasa picks the variation itself for the responses it sends. Code that speaks to a customer
without Rasa choosing the words — the support desk's notices, the gateway when Rasa is down,
the Telegram bridge, and actions that put one message together from several parts — asks this
module for the same responses with the same rule: the variation for the language, else the
default. Values fill ``{placeholders}`` as Rasa fills them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from relay.languages import DEFAULT
from relay.settings import ROOT

DOMAIN = ROOT / "domain.yml"
SLOT = "language"
_PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")


@lru_cache(maxsize=4)
def catalogue(path: Path = DOMAIN) -> dict[str, list[dict[str, Any]]]:
    """Every response of the domain file, by name (read once per process)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    domain = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    return dict(domain.get("responses") or {})


def language_of(variation: dict[str, Any]) -> str | None:
    """The language a variation is conditioned on (None: the default, English)."""
    for condition in variation.get("condition") or []:
        if condition.get("type") == "slot" and condition.get("name") == SLOT:
            return str(condition.get("value"))
    return None


def variation(name: str, language: str | None, *, path: Path = DOMAIN) -> dict[str, Any]:
    """The variation of a response for a language, else its default; KeyError if unknown."""
    variations = catalogue(path)[name]
    chosen = next((v for v in variations if language and language_of(v) == language), None)
    return chosen or next(v for v in variations if language_of(v) is None)


def fill(text: str, values: dict[str, Any]) -> str:
    """``{name}`` placeholders replaced by values (unknown ones left as they are)."""
    return _PLACEHOLDER.sub(
        lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)


def message(response: str, language: str | None, /, **values: Any) -> dict[str, Any]:
    """A response as a message for a language: its text and buttons, placeholders filled."""
    chosen = variation(response, language)
    buttons = [{"title": fill(str(b["title"]), values), "payload": str(b["payload"])}
               for b in chosen.get("buttons") or []]
    return {"text": fill(str(chosen.get("text") or ""), values), "buttons": buttons}


def text(response: str, language: str | None, /, **values: Any) -> str:
    """A response's text for a language, placeholders filled."""
    return str(message(response, language, **values)["text"])


def translations(name: str) -> dict[str, str]:
    """A response's text in every language it has ("en" for the default)."""
    return {language_of(v) or DEFAULT: str(v.get("text") or "") for v in catalogue(DOMAIN)[name]}
