"""Questions in a conversation: follow-ups, topic switches, two questions in one message."""

from __future__ import annotations

import pytest
import yaml

from knowledge.runtime.context import (
    TOPIC_SEPARATOR,
    Answered,
    answer_message,
    decide_in_context,
    joined_topics,
    looks_like_follow_up,
    points_back,
    relevant_part,
    sentences,
    split_questions,
    swapped,
)
from knowledge.runtime.engine import Decision, FaqEngine
from relay.settings import ROOT

EVAL = yaml.safe_load((ROOT / "knowledge" / "eval" / "followups.yml").read_text())


@pytest.mark.parametrize(("text", "expected"), [
    ("and per year?", True), ("what about on pro?", True), ("can I put a password on it?", True),
    ("is there a linux version", False), ("I don't want my ex to see my folder any more", False),
    ("how do I reset my password?", False), ("why?", True),
    ("et par an ?", True), ("¿y por año?", True), ("und pro Jahr?", True), ("e por ano?", True),
    ("combien coûte le plan business ?", False),
])
def test_follow_up_cues(text: str, expected: bool) -> None:
    assert looks_like_follow_up(text) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("how do i change it", True), ("where do i find it?", True),
    ("can i cancel that then?", True), ("does it work on linux?", False),
    ("how do I reset my password?", False),
    ("I tried that but the app still crashes on every start", False),  # long: says enough
])
def test_a_pronoun_object_points_back(text: str, expected: bool) -> None:
    assert points_back(text) is expected


def test_a_pronoun_subject_with_its_own_topic_leaves_the_old_one(demo_engine: FaqEngine) -> None:
    answered = answer_message(demo_engine, "does it work on linux? im on ubuntu 22.04",
                              "how much is pro? and per year?")
    assert answered[0].decision.hits[0].entry_id == "install-desktop"
    assert demo_engine.decide("how do i change it").hits[0].entry_id != "invoices"
    pointed = answer_message(demo_engine, "how do i change it", "where can i see my invoices")
    assert pointed[0].decision.hits[0].entry_id == "invoices"


def test_an_ellipsis_swaps_the_family_member_into_the_previous_question() -> None:
    assert swapped("what about on pro?", "how many devices on free?") == \
        "how many devices on pro?"
    assert swapped("and on a mac?", "does it run on windows") == "does it run on mac"
    assert swapped("can I put a password on it?", "how do I share a link?") is None
    assert swapped("and on pro?", "how do I share a link?") is None


@pytest.mark.parametrize(("text", "parts"), [
    ("how much is pro? and can I pay with paypal?", 2),
    ("I forgot my password. Also, where are my invoices?", 2),
    ("hi. how much is pro?", 1),
    ("how do I share a link", 1),
    # "and" followed by a new question's opening splits; "and" inside one question does not.
    ("how much is pro and can I pay by invoice?", 2),
    ("how do I reset my password, and where are my invoices?", 2),
    ("what's the difference between free and pro?", 1),
    ("can I share and edit files offline", 1),
    ("I'm locked out of my account and can't sign in", 1),
    # the other languages' "and" before a new question's opening
    ("¿cuánto cuesta el plan pro y puedo pagar con factura?", 2),
    ("quanto custa o plano pro e posso pagar com boleto?", 2),
    ("Was kostet Pro und kann ich per Rechnung zahlen?", 2),
    ("combien coûte pro et est-ce que je peux payer par facture ?", 2),
    ("专业版多少钱，还有可以用发票付款吗？", 2),
    ("comparto y edito archivos sin conexión", 1),
    ("Arbeit und Freizeit trennen", 1),
])
def test_split_questions(text: str, parts: int) -> None:
    assert len(split_questions(text)) == parts


def test_two_questions_joined_by_and_get_both_answers(demo_engine: FaqEngine) -> None:
    answered = answer_message(demo_engine, "how much is pro and can I pay by invoice?", None)
    assert [a.decision.hits[0].entry_id for a in answered] == ["pro-price", "payment-methods"]


@pytest.mark.parametrize(("first", "then", "expected"), [
    # The follow-up goes with the question it fits, not with the one answered last.
    ("how much is pro and can I pay by invoice?", "and per year?", "pro-price"),
    ("how much is pro and can I pay by invoice?", "what about paypal?", "payment-methods"),
    ("can I pay by invoice and how much is business?", "and per year?", "business-price"),
    ("can I pay by invoice and how much is business?", "and for 20 users?", "business-price"),
])
def test_after_two_answers_a_follow_up_goes_with_the_question_it_fits(
    demo_engine: FaqEngine, first: str, then: str, expected: str
) -> None:
    remembered = joined_topics(answer_message(demo_engine, first, None))
    assert len(remembered.split(TOPIC_SEPARATOR)) == 2
    answered = decide_in_context(demo_engine, then, remembered)
    assert (answered.decision.kind, answered.decision.hits[0].entry_id) == ("answer", expected)
    assert TOPIC_SEPARATOR not in answered.topic  # one topic after a one-answer turn


@pytest.mark.parametrize(("first", "then", "expected"), [
    # matched well alone, less well with the topic: its own entry, not a sentence of the old one
    ("how much is pro?", "what about on mobile?", "mobile-apps"),
    ("how do I share a folder?", "what about on mobile?", "mobile-apps"),
    # matched less well alone: the topic decides, as before
    ("how much is pro?", "and per year?", "pro-price"),
    ("how do I share a folder?", "can I put a password on it?", "link-password-expiry"),
])
def test_a_follow_up_that_names_its_own_subject_keeps_it(
    demo_engine: FaqEngine, first: str, then: str, expected: str
) -> None:
    answered = decide_in_context(demo_engine, then, first)
    assert (answered.decision.kind, answered.decision.hits[0].entry_id) == ("answer", expected)


def test_a_newline_the_customer_typed_does_not_split_the_topic() -> None:
    answered = [Answered(Decision(kind="decline", hits=[]), topic="how much\nis pro")]
    assert joined_topics(answered) == "how much is pro"


def _right(engine: FaqEngine, item: dict[str, object]) -> bool:
    first = decide_in_context(engine, str(item["first"]), None)
    then = decide_in_context(engine, str(item["then"]), first.topic)
    return then.decision.kind == "answer" and then.decision.hits[0].entry_id in item["expect"]


def test_the_follow_up_set_is_answered_in_context(demo_engine: FaqEngine) -> None:
    """The issue's target: at least 90 % of the follow-ups answered with the right entry."""
    right = sum(_right(demo_engine, item) for item in EVAL["followups"])
    assert len(EVAL["followups"]) >= 40
    assert right / len(EVAL["followups"]) >= 0.9


def test_a_change_of_topic_is_not_pulled_back_to_the_old_one(demo_engine: FaqEngine) -> None:
    right = sum(_right(demo_engine, item) for item in EVAL["topic_switches"])
    assert right / len(EVAL["topic_switches"]) >= 0.95


@pytest.mark.parametrize("text", [
    "What's a good recipe for banana bread?", "who won the football game", "my cat is sick",
    "how tall is mount everest",
])
def test_something_unrelated_is_not_made_a_follow_up(demo_engine: FaqEngine, text: str) -> None:
    answered = decide_in_context(demo_engine, text, "how do I reset my password?")
    assert answered.decision.kind != "answer"
    assert not answered.used_context


def test_two_questions_get_two_distinct_answers(demo_engine: FaqEngine) -> None:
    answered = answer_message(demo_engine, "how much is pro? and can I pay with paypal?", None)
    assert [a.decision.hits[0].entry_id for a in answered] == ["pro-price", "payment-methods"]
    once = answer_message(demo_engine, "how much is pro? how much does pro cost?", None)
    assert [a.decision.hits[0].entry_id for a in once] == ["pro-price"]


def test_sentences_split_latin_and_chinese_answers() -> None:
    assert sentences("Pro costs $8 (two months free). Prices exclude VAT.  ") == [
        "Pro costs $8 (two months free).", "Prices exclude VAT."]
    assert sentences("专业版每月 8 美元。价格不含税。") == ["专业版每月 8 美元。", "价格不含税。"]
    assert sentences("Version 2.5 is out") == ["Version 2.5 is out"]  # no break inside numbers


@pytest.mark.parametrize(("follow_up", "expected"), [
    ("and per year?", "$80 per user per year"),
    ("is VAT included?", "exclude local VAT"),
])
def test_the_relevant_part_of_an_answer_for_a_follow_up(demo_engine: FaqEngine,
                                                        follow_up: str, expected: str) -> None:
    answer = demo_engine.entry("pro-price").answer
    part = relevant_part(demo_engine, answer, follow_up)
    assert expected in part and part in answer and part != answer.strip()
    one = "Only one sentence here."
    assert relevant_part(demo_engine, one, follow_up) == one
