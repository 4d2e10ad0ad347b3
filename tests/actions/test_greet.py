"""action_greet: a bare greeting is greeted; a greeting with a question the FAQ answers gets
the answer (the NLU calls "hallo, ich kann mich nicht anmelden" a greeting)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.greet import ActionGreet, after_greeting
from tests.actions.conftest import tracker


@pytest.mark.parametrize(("text", "rest"), [
    ("hallo, ich kann mich nicht anmelden", "ich kann mich nicht anmelden"),
    ("你好，我登录不了", "我登录不了"),
    ("hi, how much is pro?", "how much is pro?"),
    ("hola", ""), ("hi there!", ""), ("good morning team!", ""), ("Hallo zusammen", ""),
    ("你好", ""), ("hola :)", ""),
])
def test_what_comes_after_the_greeting(text: str, rest: str) -> None:
    assert after_greeting(text) == rest


@pytest.mark.usefixtures("faq_services")
@pytest.mark.parametrize(("language", "text", "entry"), [
    ("de", "hallo, ich kann mich nicht anmelden", "login-problems"),
    ("fr", "bonjour, je n'arrive pas à me connecter", "login-problems"),
    ("es", "hola, ¿cuánto cuesta el plan pro?", "pro-price"),
])
async def test_a_greeting_with_a_question_gets_the_answer(
    domain: dict[str, Any], language: str, text: str, entry: str,
) -> None:
    dispatcher = CollectingDispatcher()
    await ActionGreet().run(dispatcher, tracker(text=text, intent="greet",
                                                slots={"language": language}), domain)
    assert [m.get("faq_entry_id") for m in dispatcher.messages] == [entry]


@pytest.mark.usefixtures("faq_services")
@pytest.mark.parametrize("text", ["hola", "hey, how are you?", "hi there!", "/greet",
                                  "bonjour, ça va ?"])
async def test_a_greeting_without_a_question_is_greeted(domain: dict[str, Any],
                                                         text: str) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionGreet().run(dispatcher, tracker(text=text, intent="greet"), domain)
    assert [m.get("response") for m in dispatcher.messages] == ["utter_greet"]
    assert events == []
