"""relay.users and relay.devmail as the tests and benchmarks use them: which FAQ entry a reply
is, and the mails the development server received."""

from __future__ import annotations

from pathlib import Path

from relay import responses
from relay.devmail import read_mails
from relay.users import entry_of, faq_answers


def test_a_reply_is_known_by_its_answer_whole_untranslated_or_quoted() -> None:
    answer = next(a for a, e in faq_answers().items() if e == "pro-price")
    assert entry_of(answer) == "pro-price"
    assert entry_of(responses.text("utter_answer_untranslated", "de", answer=answer)) == "pro-price"
    first = answer.split(". ")[0] + "."
    assert entry_of(responses.text("utter_answer_again", "en", answer=first)) == "pro-price"
    assert entry_of("Okay — anything else I can help with?") is None


def test_mails_being_written_are_not_read(tmp_path: Path) -> None:
    mail = "To: ana@example.com\nSubject: Code\n\nYour code is 123 456.\n"
    (tmp_path / "1-00001.eml").write_text(mail)
    (tmp_path / ".2-00002.eml.part").write_text(mail[:10])  # the server is still writing it
    (tmp_path / ".3-00003.eml").write_text(mail)  # as an older server named them
    assert [m.path.name for m in read_mails(tmp_path)] == ["1-00001.eml"]
