"""Writing the FAQ sources (knowledge.build.faq_edit): files keep their layout, bad edits are
undone."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from knowledge.build.faq_edit import LEARNED_FILE, FaqEditError, add_entry, add_paraphrases
from knowledge.build.sources import FaqEntry, load_faq
from relay.settings import ROOT

HOSTILE = [
    "what's this: a colon?",
    "# not a comment",
    "- not a list item",
    '"quoted" and \'single\'',
    "yes",
    "{flow: mapping}",
    "ünïcødé & <html>",
]


@pytest.fixture
def faq(tmp_path: Path) -> Path:
    target = tmp_path / "faq"
    shutil.copytree(ROOT / "knowledge" / "faq", target)
    return target


def entry(faq: Path, entry_id: str) -> FaqEntry:
    return next(e for e in load_faq(faq) if e.id == entry_id)


def test_paraphrases_are_inserted_as_lines_and_nothing_else_changes(faq: Path) -> None:
    source = faq / "sharing.yml"
    before_text = source.read_text()
    before = entry(faq, "share-link")
    edit = add_paraphrases(paths=[faq], entry_id="share-link",
                           questions=[*HOSTILE, "How do I share a file?", "  spaced   out  "])
    assert edit.path == source and edit.before == before.model_dump()
    after = entry(faq, "share-link")
    # Hostile text stays text; a duplicate (any case) is not added twice; spaces are tidied.
    assert after.questions == [*before.questions, *HOSTILE, "spaced out"]
    assert after.answer == before.answer
    diff = [line for line in difflib.ndiff(before_text.splitlines(), source.read_text()
                                           .splitlines()) if line[:1] in "+-"]
    assert all(line.startswith("+     - ") for line in diff), diff
    assert len(diff) == len(HOSTILE) + 1
    # The next entry is untouched.
    assert entry(faq, "link-password-expiry") == next(
        e for e in load_faq(ROOT / "knowledge" / "faq") if e.id == "link-password-expiry")


def test_the_last_entry_of_a_file_can_grow(faq: Path) -> None:
    last_id = load_faq(faq / "sharing.yml")[-1].id
    add_paraphrases(paths=[faq], entry_id=last_id, questions=["one more way to ask"])
    assert entry(faq, last_id).questions[-1] == "one more way to ask"


def test_a_new_entry_goes_to_learned_yml(faq: Path) -> None:
    new = FaqEntry(id="export-pdf", questions=["export a doc as pdf", HOSTILE[0]],
                   answer="Open the file > Export > PDF.\nIt keeps the layout.",
                   tags=["files"])
    edit = add_entry(paths=[faq], entry=new)
    assert edit.path == faq / LEARNED_FILE and edit.before is None
    assert entry(faq, "export-pdf") == new
    second = FaqEntry(id="print", questions=["can I print"], answer="Yes: File > Print.")
    add_entry(paths=[faq], entry=second)
    assert entry(faq, "print") == second
    assert (faq / LEARNED_FILE).read_text().startswith("# Entries added from the Insights page")


@pytest.mark.parametrize(
    ("action", "says"),
    [
        (lambda faq: add_paraphrases(paths=[faq], entry_id="no-such", questions=["x"]),
         "no FAQ entry"),
        (lambda faq: add_paraphrases(paths=[faq], entry_id="share-link",
                                     questions=["create a shareable link"]),
         "already has"),
        (lambda faq: add_entry(paths=[faq], entry=FaqEntry(id="share-link", questions=["x"],
                                                           answer="y")),
         "exists already"),
    ],
)
def test_impossible_edits_say_why_and_change_nothing(faq: Path, action, says: str) -> None:
    before = {p.name: p.read_text() for p in faq.iterdir()}
    with pytest.raises(FaqEditError, match=says):
        action(faq)
    assert {p.name: p.read_text() for p in faq.iterdir()} == before


def test_entries_outside_yaml_are_not_edited(faq: Path) -> None:
    (faq / "extra.csv").write_text("id,question,answer\ncsv-entry,hello there,General Kenobi\n")
    with pytest.raises(FaqEditError, match="by hand"):
        add_paraphrases(paths=[faq], entry_id="csv-entry", questions=["hi there"])
