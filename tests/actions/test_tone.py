"""The tone of a message: frustration, billing disputes, insistence."""

from __future__ import annotations

import pytest

from actions.tone import asks_for_person, declines_person, reason_for, tone_of


@pytest.mark.parametrize(("text", "frustrated", "dispute", "insists"), [
    ("you charged me TWICE, I want my money back NOW", False, True, True),
    ("i was double charged this month", False, True, False),
    ("this is useless", True, False, False),
    ("WHY IS SYNC BROKEN AGAIN!!", True, False, True),
    ("how do I set up SSO with the API?", False, False, False),
    ("how much is pro?", False, False, False),
    ("get me a manager", False, False, True),
])
def test_tone(text: str, frustrated: bool, dispute: bool, insists: bool) -> None:
    tone = tone_of(text)
    assert (tone.frustrated, tone.billing_dispute, tone.insists) == (frustrated, dispute, insists)


def test_the_reason_says_why_in_an_agents_words() -> None:
    assert reason_for(tone_of("you charged me TWICE, refund me NOW"), complaints=1) == (
        "billing dispute: the customer says they were charged wrongly and wants money back "
        "(insisted on a person)")
    assert reason_for(tone_of("this is useless"), complaints=2) == "repeated complaints"


@pytest.mark.parametrize("text", ["me cobraron dos veces este mes", "Sie haben doppelt abgebucht",
                                  "vous m'avez débité deux fois", "me cobraram duas vezes",
                                  "你们扣了两次钱"])
def test_a_double_charge_is_a_dispute_in_any_language(text: str) -> None:
    assert tone_of(text).billing_dispute


@pytest.mark.parametrize("text", ["esto es inútil", "das ist lächerlich", "c'est inacceptable",
                                  "que atendimento péssimo", "这个服务太差了"])
def test_anger_in_any_language(text: str) -> None:
    assert tone_of(text).frustrated


@pytest.mark.parametrize("text", ["¿me pueden devolver el dinero?", "可以退款吗",
                                  "kann ich mein Geld zurückbekommen?"])
def test_asking_about_refunds_is_not_a_dispute(text: str) -> None:
    assert not tone_of(text).upset


@pytest.mark.parametrize(("text", "asks"), [
    ("my files won't sync and I need a person", True),
    ("can I talk to a human about my invoice?", True),
    ("I want to speak with someone, my account is locked", True),
    ("sync is broken, connect me to an agent", True),
    ("quiero hablar con una persona, no me sincroniza", True),
    ("ich möchte mit einem Menschen sprechen, die Rechnung ist falsch", True),
    ("how do I share a folder with another person?", False),
    ("how many people can edit a file?", False),
    ("can a person on the free plan share links?", False),
    ("how do I add a user agent string?", False),
    # denied or asked about: no request
    ("I don't want to talk to a person, just tell me the price", False),
    ("no need to speak to an agent, what does pro cost?", False),
    ("do I need an agent to set up SSO?", False),
    ("I never want to talk to a human again", False),
    ("no quiero hablar con una persona", False),
    ("no, I need a human", True),
    ("can you put me through to someone", True),
    ("transfer me to an agent please", True),
    # one word, one letter off: the request mistyped
    ("gent", True), ("AGNET!!", True), ("huamn", True), ("persn", True), ("operater", True),
    ("agnt 🙂", True),
    # not one edit from any of them, or more than one word
    ("get", False), ("urgent", False), ("event", False), ("agenda", False), ("gents", False),
    ("green", False), ("a gent", False), ("12345", False),
])
def test_a_request_for_a_person_inside_a_message(text: str, asks: bool) -> None:
    assert asks_for_person(text) is asks


@pytest.mark.parametrize(("text", "rest"), [
    ("I don't want to talk to a person, just the price of business", "the price of business"),
    ("no i don't want to speak to a human but how much is pro?", "how much is pro?"),
    ("I dont want a human. how do I reset my password?", "how do I reset my password?"),
    ("I don't need an agent", ""),
    ("Ich will keinen Menschen sprechen, sag mir nur, was Business kostet",
     "sag mir nur, was Business kostet"),
    ("No quiero hablar con una persona, solo dime cuánto cuesta Business",
     "dime cuánto cuesta Business"),
    ("Je ne veux pas parler à une personne, combien coûte Business ?", "combien coûte Business ?"),
    ("Não quero falar com uma pessoa, só quero saber o preço do Business",
     "quero saber o preço do Business"),
    ("不要人工，商业版多少钱？", "商业版多少钱？"),
    ("no need to talk to someone, thanks", ""),
    # asked for, asked about, or not mentioned: not a refusal
    ("I want to talk to a person", None),
    ("I don't want the bot, I want to talk to a person", None),
    ("do I need an agent to set up SSO?", None),
    ("agent", None),
    ("how much is pro?", None),
])
def test_a_person_refused_in_words(text: str, rest: str | None) -> None:
    assert declines_person(text) == rest
