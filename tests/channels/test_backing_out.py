"""Which whole messages withdraw a request for a person (bot/channels/backing_out.py)."""

from __future__ import annotations

import pytest

from bot.channels import backing_out
from bot.channels.backing_out import PHRASES, backs_out

BACKING_OUT = [
    "never mind", "Actually never mind, thanks!", "nvm", "forget it.", "cancel", "its fine",
    "It’s fine", "i don't need a person anymore", "ok, I figured it out", "no need",
    "en fait non, laisse tomber", "C'est bon, merci", "Olvídalo, gracias", "olvidalo",
    "ya no hace falta", "Vergiss es.", "hat sich erledigt, danke", "deixa pra lá",
    "tudo certo, obrigado", "算了", "算了吧", "好吧，不用了，谢谢！", "没事了", "算了，不用了",
    "never mind, forget it", "No. Cancel. Thanks.",
]
STILL_FOR_A_PERSON = [
    "", "ok", "okay thanks", "thanks", "no", "yes", "I can wait", "how long will it take?",
    "Cancel my subscription", "never mind the invoice, my files are gone",
    "cancel the order and refund me", "forget it, I want to speak to a manager",
    "laisse tomber l'abonnement, je veux un remboursement", "no quiero cancelar",
    "取消订阅", "算了算了你们的客服太慢了我要投诉", "nothing works", "cancellation policy?",
    "ok. thanks", "never mind. my files are gone", "cancel, subscription", "算了，我要投诉",
]


@pytest.mark.parametrize("text", BACKING_OUT)
def test_a_customer_who_no_longer_needs_a_person_is_understood(text: str) -> None:
    assert backs_out(text)


@pytest.mark.parametrize("text", STILL_FOR_A_PERSON)
def test_anything_more_than_backing_out_is_for_the_person(text: str) -> None:
    assert not backs_out(text)


@pytest.mark.parametrize("phrase", [p for ps in PHRASES.values() for p in ps])
def test_every_listed_phrase_matches_as_written_and_shouted(phrase: str) -> None:
    assert backs_out(phrase) and backs_out(f"{phrase.upper()}!!")


def test_a_phrase_with_a_topic_added_is_not_a_back_out() -> None:
    # "cancel" + "subscription", "算了" + "订阅": the customer says more than "no longer".
    topics = ["subscription", "invoice", "refund", "the order", "my account", "password",
              "订阅", "账户", "la factura", "die Rechnung", "l'abonnement", "a conta"]
    matched = [order for phrase in (p for ps in PHRASES.values() for p in ps)
               for topic in topics
               for order in (f"{phrase} {topic}", f"{topic} {phrase}") if backs_out(order)]
    assert matched == []


@pytest.mark.parametrize(("text", "language"), [
    ("算了，不用了", "zh"), ("Olvídalo, gracias", "es"), ("vergiss es", "de"),
    ("en fait non, laisse tomber", "fr"), ("deixa pra lá", "pt"),
    ("cancelar", None),  # Spanish and Portuguese alike
    ("never mind", None), ("ok cancel", None),  # English words are said in every language's chat
    ("cancel my subscription", None),
])
def test_the_words_tell_the_language_of_the_answer_when_they_can(
    text: str, language: str | None
) -> None:
    assert backing_out.language(text) == language
