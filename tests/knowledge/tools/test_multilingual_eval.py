"""The cross-lingual benchmark data stays usable: every item in six languages, every label a
real FAQ entry, and the benchmark's pure helpers do what the tables claim."""

from __future__ import annotations

from collections import Counter

from knowledge.build.sources import load_faq
from knowledge.tools.multilingual_bench import (
    LANGS,
    best_of_six,
    load_eval,
    routed,
    with_translations,
)
from relay.settings import ROOT


def test_every_question_is_labelled_with_a_real_entry_in_all_six_languages() -> None:
    data = load_eval()
    ids = {e.id for e in load_faq([ROOT / "knowledge" / "faq"])}
    assert len(data.queries) >= 40
    assert {entry for entry, _ in data.queries} <= ids
    for _, texts in data.queries:
        assert set(texts) == set(LANGS)
        assert all(texts[lang].strip() for lang in LANGS)
    for lang in LANGS[1:]:  # a copy-paste of the English question would measure nothing
        assert all(texts[lang] != texts["en"] for _, texts in data.queries)
        assert set(data.translated[lang]) <= ids
    assert all(len(data.short[lang]) >= 10 for lang in LANGS)


def test_questions_are_not_the_faq_paraphrases() -> None:
    data = load_eval()
    faq = {q.casefold() for e in load_faq([ROOT / "knowledge" / "faq"]) for q in e.questions}
    copied = [texts["en"] for _, texts in data.queries if texts["en"].casefold() in faq]
    assert copied == []


def test_translations_are_appended_to_their_own_entry_only() -> None:
    data = load_eval()
    entries = load_faq([ROOT / "knowledge" / "faq"])
    extended = {e.id: e for e in with_translations(entries, data.translated)}
    for entry in entries:
        added = extended[entry.id].questions[len(entry.questions) :]
        expected = [q for lang in LANGS[1:] for q in data.translated[lang].get(entry.id, [])]
        assert Counter(q.casefold() for q in added) == Counter(
            q.casefold() for q in dict.fromkeys(expected)
        )


def test_best_of_six_normalises_codes_and_ignores_other_languages() -> None:
    assert best_of_six([("gl", 0.9), ("es", 0.05), ("pt", 0.04)]) == "es"
    assert best_of_six([("zh-cn", 0.5), ("ja", 0.6)]) == "zh"
    assert best_of_six([("ZH", 0.5)]) == "zh"
    assert best_of_six([("it", 0.9)]) is None


def test_routing_takes_english_from_the_english_encoder_and_the_rest_elsewhere() -> None:
    from knowledge.tools.multilingual_bench import DetectorResult, EncoderResult

    english, other = EncoderResult(), EncoderResult()
    for condition in ("faq", "translated"):
        english.top1[condition] = {lang: [True, False] for lang in LANGS}
        other.top1[condition] = {lang: [False, True] for lang in LANGS}
    detector = DetectorResult(predicted={lang: ["en", lang] for lang in LANGS})
    result = routed(english, other, detector)
    assert result["faq"]["es"] == [True, True]  # item 0 detected en -> english; item 1 -> other
    assert result["faq"]["en"] == [True, False]  # both items routed to the English encoder
