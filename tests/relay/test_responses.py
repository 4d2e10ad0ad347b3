"""The response catalogue (domain.yml) speaks every language Relay supports."""

from __future__ import annotations

import re

import pytest

from relay import responses
from relay.languages import CODES, DEFAULT

PLACEHOLDER = re.compile(r"{([^{}\n]+)}")
NAMES = sorted(responses.catalogue())


@pytest.mark.parametrize("name", NAMES)
def test_every_response_has_one_variation_per_language(name: str) -> None:
    variations = responses.catalogue()[name]
    languages = [responses.language_of(v) or DEFAULT for v in variations]
    assert sorted(languages) == sorted(CODES), f"{name}: {languages}"


@pytest.mark.parametrize("name", NAMES)
def test_translations_keep_the_buttons_and_name_no_value_english_does_not(name: str) -> None:
    english = responses.variation(name, None)
    english_values = set(PLACEHOLDER.findall(english["text"]))
    payloads = [b["payload"] for b in english.get("buttons") or []]
    for code in CODES:
        variation = responses.variation(name, code)
        assert set(PLACEHOLDER.findall(variation["text"])) <= english_values, (name, code)
        assert [b["payload"] for b in variation.get("buttons") or []] == payloads, (name, code)
        if code != DEFAULT and variation["text"] not in ("😊",):
            assert variation["text"] != english["text"], (name, code)


def test_a_form_prompt_and_a_validation_message_in_each_language() -> None:
    assert responses.text("utter_ask_email", "zh").startswith("您的")
    assert "¿Cuál es el correo" in responses.text("utter_ask_email", "es")
    assert "Telefonnummer" in responses.text("utter_hint_phone", "de", error="x")
    assert "adresse e-mail" in responses.text("utter_hint_email", "fr")
    assert "CEP" in responses.text("utter_hint_address", "pt")
    assert responses.text("utter_ask_email", "xx") == responses.text("utter_ask_email", None)


@pytest.mark.parametrize("code", CODES)
def test_one_try_left_is_not_said_in_the_plural(code: str) -> None:
    # The count runs 4, 3, 2, 1: "1 tries left", "quedan 1 intentos" read as mistakes.
    text = responses.text("utter_code_wrong", code, tries_left=1)
    assert "1" in text
    assert not re.search(r"\b1 (tries|intentos|Versuche|essais|tentativas)\b", text), text
