"""Typo correction towards the FAQ's vocabulary, and what it must leave alone."""

from __future__ import annotations

import pytest

from knowledge.build.sources import load_faq
from knowledge.runtime.engine import FaqEngine
from knowledge.runtime.spelling import Speller
from relay.settings import ROOT


@pytest.fixture(scope="module")
def speller() -> Speller:
    """A speller over the demo FAQ's questions and answers, as the engine builds it."""
    entries = load_faq(ROOT / "knowledge" / "faq")
    return Speller.from_texts(t for e in entries for t in (*e.questions, e.answer))


@pytest.mark.parametrize(("typed", "meant"), [
    ("forgot pasword lol", "forgot password lol"),
    ("how do i cancle my subscripton", "how do i cancel my subscription"),
    ("how much storge do i get", "how much storage do i get"),
    ("how do i instal it", "how do i install it"),
])
def test_typos_are_corrected(speller: Speller, typed: str, meant: str) -> None:
    assert speller.correct(typed) == meant


@pytest.mark.parametrize("text", [
    "¿cuánto cuesta el plan pro?", "wie setze ich mein passwort zurück?",
    "comment réinitialiser mon mot de passe ?", "如何重置密码?", "my email is jo@example.com",
    "I want to talk to a human", "nimbus dropbox onedrive okta ubuntu",
])
def test_other_languages_and_correct_english_are_left_alone(speller: Speller, text: str) -> None:
    assert speller.correct(text) == text


@pytest.mark.parametrize(("typed", "entry"), [
    ("forgot pasword lol", "reset-password"),
    ("how do i cancle my subscripton", "cancel-subscription"),
    ("how do i shre a fiel", "share-link"),
    ("two factr authentification", "two-factor"),
])
def test_a_typo_no_longer_turns_an_answer_into_a_decline(
    demo_engine: FaqEngine, typed: str, entry: str
) -> None:
    decision = demo_engine.decide(typed)
    assert decision.kind == "answer" and decision.hits[0].entry_id == entry
