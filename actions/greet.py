"""A greeting, or a greeting with the question after it ("hallo, ich kann mich nicht anmelden").

The NLU calls both greet (outside English it has a few dozen examples per intent, and the
greeting word weighs more than the problem after it). A bare greeting gets the greeting; a
greeting with a question the FAQ answers gets the answer, like any message; anything else
("hey, how are you?") is greeted as before.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import respond_to_text
from actions.forms import latest_text
from actions.languages import faq_for
from knowledge.runtime.context import word_count

# The greeting at the start of a message, in Relay's languages, with what may follow it
# ("hi there,", "good morning team!", "你好").
_GREETING = re.compile(
    r"^\s*(?:(?:hi|hello|hey|hiya|howdy|good\s+(?:morning|afternoon|evening)|greetings|hola|"
    r"buenas(?:\s+(?:tardes|noches))?|buenos\s+días|hallo|guten\s+(?:morgen|tag|abend)|servus|"
    r"moin|bonjour|bonsoir|salut|coucou|olá|ola|oi|bom\s+dia|boa\s+(?:tarde|noite))\b"
    r"(?:\s+(?:there|team|everyone|all|support|again|zusammen|à\s+tous|a\s+todos|equipe))?"
    r"|你好|您好|嗨|哈喽)[\s,.!:;，。！~-]*",
    re.IGNORECASE,
)
# "how are you?" after the greeting is part of it.
_SMALL_TALK = re.compile(
    r"^(?:how\s+are\s+you|how's\s+it\s+going|what's\s+up|¿?qué\s+tal|¿?cómo\s+estás|"
    r"wie\s+geht'?s|wie\s+geht\s+es|(?:comment\s+)?ça\s+va|tudo\s+bem|como\s+vai|你好吗|最近怎么样)",
    re.IGNORECASE)
# Less than this after the greeting is still a greeting ("hi there!", "hola :)").
MIN_REST_WORDS = 2


def after_greeting(text: str) -> str:
    """What the message says after its opening greeting ("" for a bare greeting)."""
    match = _GREETING.match(text)
    rest = text[match.end():] if match else text
    rest = rest.strip()
    return rest if word_count(rest) >= MIN_REST_WORDS and not _SMALL_TALK.match(rest) else ""


class ActionGreet(Action):
    """Greet, or answer what came with the greeting."""

    def name(self) -> str:
        return "action_greet"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = latest_text(tracker)
        rest = "" if text.startswith("/") else after_greeting(text)
        if rest and faq_for(tracker, rest).decide(rest).kind == "answer":
            return respond_to_text(dispatcher, tracker, rest, intent=None, confidence=0.0)
        dispatcher.utter_message(response="utter_greet")
        return []
