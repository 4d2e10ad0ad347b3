"""FAQ sources: validation messages, CSV and Markdown import, the demo FAQ itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.build.sources import FaqError, load_faq, read_markdown
from tests.knowledge.conftest import DEMO_FAQ


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_faq_is_valid_and_complete() -> None:
    entries = load_faq([DEMO_FAQ])
    assert len(entries) >= 45
    assert all(4 <= len(e.questions) <= 8 for e in entries)
    assert all(e.tags and e.answer for e in entries)
    # The demo answers Chinese and Spanish customers in their language (issue 11).
    assert all(set(e.answers) == {"zh", "es"} and e.language == "en" for e in entries)


def test_unknown_field_names_file_and_entry(tmp_path: Path) -> None:
    f = write(tmp_path / "a.yml", "- id: ok\n  questions: [q]\n  answer: a\n  anwser: typo\n")
    with pytest.raises(FaqError) as err:
        load_faq([f])
    message = str(err.value)
    assert "a.yml: entry 1 (id 'ok')" in message
    assert "anwser: unknown field" in message


def test_empty_questions_and_answer_and_bad_slug(tmp_path: Path) -> None:
    f = write(
        tmp_path / "b.yml",
        "- id: Bad Id\n  questions: [q]\n  answer: a\n"
        "- id: no-questions\n  questions: []\n  answer: a\n"
        "- id: blank\n  questions: ['  ']\n  answer: ''\n",
    )
    with pytest.raises(FaqError) as err:
        load_faq([f])
    message = str(err.value)
    assert "entry 1 (id 'Bad Id'): id: must be a slug" in message
    assert "entry 2 (id 'no-questions'): questions:" in message
    assert "entry 3 (id 'blank'): answer:" in message
    assert "entry 3 (id 'blank'): questions: Value error, a question is empty" in message


def test_duplicate_id_across_files(tmp_path: Path) -> None:
    write(tmp_path / "a.yml", "- id: same\n  questions: [q1]\n  answer: a\n")
    write(tmp_path / "b.yml", "entries:\n  - id: same\n    questions: [q2]\n    answer: b\n")
    with pytest.raises(
        FaqError, match=r"b\.yml: entry 1 \(id 'same'\): duplicate id 'same' \(first in .*a\.yml\)"
    ):
        load_faq([tmp_path])


def test_broken_yaml_names_the_file(tmp_path: Path) -> None:
    f = write(tmp_path / "c.yml", "- id: x\n  questions: [unclosed\n")
    with pytest.raises(FaqError, match=r"c\.yml: "):
        load_faq([f])


def test_csv_rows_with_same_id_are_paraphrases(tmp_path: Path) -> None:
    f = write(
        tmp_path / "faq.csv",
        "id,question,answer,tags\n"
        "pro-price,How much is Pro?,Pro costs $8.,billing;plans\n"
        "pro-price,Pro plan price,,pricing\n"
        "hours,When are you open?,Mon-Fri 8-20 CET.,support\n",
    )
    entries = {e.id: e for e in load_faq([f])}
    assert entries["pro-price"].questions == ["How much is Pro?", "Pro plan price"]
    assert entries["pro-price"].answer == "Pro costs $8."
    assert entries["pro-price"].tags == ["billing", "plans", "pricing"]
    assert entries["hours"].language == "en"


def test_csv_conflicting_answers_and_missing_column(tmp_path: Path) -> None:
    f = write(tmp_path / "x.csv", "id,question,answer\na,q1,one\na,q2,two\n")
    with pytest.raises(FaqError, match=r"x\.csv: line 3 \(id 'a'\): a different answer"):
        load_faq([f])
    g = write(tmp_path / "y.csv", "id,question\na,q1\n")
    with pytest.raises(FaqError, match=r"y\.csv: missing CSV column\(s\): answer"):
        load_faq([g])


def test_markdown_import(tmp_path: Path) -> None:
    text = """# Nimbus FAQ

Intro text is ignored.

## How much does Pro cost?
id: pro-price
tags: billing, plans
- What is the price of Pro?
- Pro pricing

Pro costs $8 per user per month.

Billed monthly or yearly.

## Is there a free trial?
- Can I try Pro for free?

Yes, 14 days.
"""
    raw = read_markdown(text)
    assert raw[0]["id"] == "pro-price"
    assert raw[0]["questions"] == [
        "How much does Pro cost?",
        "What is the price of Pro?",
        "Pro pricing",
    ]
    assert raw[0]["tags"] == ["billing", "plans"]
    assert raw[0]["answer"] == "Pro costs $8 per user per month.\n\nBilled monthly or yearly."
    f = write(tmp_path / "faq.md", text)
    entries = load_faq([f])
    assert [e.id for e in entries] == ["pro-price", "is-there-a-free-trial"]
    assert entries[1].answer == "Yes, 14 days."


def test_markdown_entry_without_answer_is_reported(tmp_path: Path) -> None:
    f = write(tmp_path / "m.md", "## Lonely question?\n- another\n")
    with pytest.raises(FaqError, match=r"m\.md: entry 1 \(id 'lonely-question'\): answer:"):
        load_faq([f])


def test_answers_per_language_in_yaml_csv_and_markdown(tmp_path: Path) -> None:
    write(tmp_path / "a.yml", "- id: pro-price\n"
          "  questions: [How much is Pro?, ¿Cuánto cuesta Pro?]\n  answer: Pro costs $8.\n"
          "  answers:\n    zh: 专业版 8 美元。\n    es: ' Pro cuesta 8 $. '\n")
    write(tmp_path / "b.csv", "id,question,answer,answer_es,answer_fr\n"
          "hours,When are you open?,Mon-Fri.,De lunes a viernes.,\n"
          "hours,Horario de atención,,,Du lundi au vendredi.\n")
    write(tmp_path / "c.md", "## Is there a free trial?\n- ¿Hay una prueba gratis?\n\n"
          "Yes, 14 days.\n\n### pt\nSim, 14 dias.\n\n### de\nJa, 14 Tage.\n\nOhne Karte.\n")
    entries = {e.id: e for e in load_faq([tmp_path])}
    pro, hours, trial = entries["pro-price"], entries["hours"], entries["is-there-a-free-trial"]
    assert pro.answers == {"es": "Pro cuesta 8 $.", "zh": "专业版 8 美元。"}
    assert pro.questions == ["How much is Pro?", "¿Cuánto cuesta Pro?"]
    assert hours.answers == {"es": "De lunes a viernes.", "fr": "Du lundi au vendredi."}
    assert trial.answer == "Yes, 14 days."
    assert trial.answers == {"de": "Ja, 14 Tage.\n\nOhne Karte.", "pt": "Sim, 14 dias."}
    assert pro.answer_in("zh") == ("专业版 8 美元。", "zh")
    assert pro.answer_in("de") == ("Pro costs $8.", "en")  # no German: its own language
    assert pro.answer_in("en") == ("Pro costs $8.", "en")
    # A translation is not embedded: vectors are reused, the index is rewritten.
    plain = pro.model_copy(update={"answers": {}})
    assert plain.embed_hash() == pro.embed_hash() and plain.content_hash() != pro.content_hash()


def test_answers_must_name_a_language_and_say_something(tmp_path: Path) -> None:
    f = write(tmp_path / "a.yml", "- id: x\n  questions: [q]\n  answer: a\n"
              "  answers: {Spanish: b, zh: '  '}\n")
    with pytest.raises(FaqError) as err:
        load_faq([f])
    assert "answers: Value error, languages must be ISO 639 codes" in str(err.value)
    g = write(tmp_path / "b.csv", "id,question,answer,answer_spanish\nx,q,a,b\n")
    with pytest.raises(FaqError, match=r"unknown CSV column\(s\): answer_spanish \(translated"):
        load_faq([g])
    h = write(tmp_path / "c.csv", "id,question,answer,answer_es\nx,q,a,uno\nx,q2,,dos\n")
    with pytest.raises(FaqError, match=r"line 3 \(id 'x'\): a different answer_es than before"):
        load_faq([h])
