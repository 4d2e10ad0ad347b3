"""Write to the FAQ sources: add paraphrases to an entry, or add a new entry.

Edits are textual, so a source file keeps its comments, folding and layout: a paraphrase is one
``- question`` line inserted after the entry's last question (positions from PyYAML's node
marks); a new entry is appended to ``learned.yml`` in the first FAQ directory. Every write is
checked by loading the whole FAQ again; a write that would make it invalid is undone and
raises FaqEditError. Only YAML sources can be edited here (CSV and Markdown stay hand-edited).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from knowledge.build.sources import FaqEntry, FaqError, faq_files, load_faq

LEARNED_FILE = "learned.yml"
LEARNED_HEADER = (
    "# Entries added from the Insights page (knowledge gaps). Edit freely: they are ordinary\n"
    "# FAQ entries; rebuild with `make build-index` after editing by hand.\n"
)


class FaqEditError(ValueError):
    """The edit cannot be made; the message says why."""


@dataclass(frozen=True)
class Edit:
    """What an edit did: the file written, the entry before (None if new) and after."""

    path: Path
    entry_id: str
    before: dict[str, Any] | None
    after: dict[str, Any]


def _scalar(text: str) -> str:
    """text as a one-line YAML scalar (plain when safe, else double-quoted)."""
    dumped = yaml.safe_dump(text, allow_unicode=True, width=10**6, default_flow_style=True)
    dumped = dumped.removesuffix("\n").removesuffix("\n...").strip()
    if "\n" in dumped or dumped.startswith(("!", "&", "*")) or not dumped:
        return json.dumps(text, ensure_ascii=False)
    return dumped


def _entries(paths: Sequence[Path]) -> dict[str, FaqEntry]:
    try:
        return {e.id: e for e in load_faq(list(paths))}
    except FaqError as exc:
        raise FaqEditError(f"The FAQ is invalid before the edit: {exc}") from None


def _write_checked(path: Path, text: str, paths: Sequence[Path], created: bool) -> None:
    """Write text to path, undoing the write if the FAQ no longer loads."""
    old = None if created else path.read_text(encoding="utf-8")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    try:
        load_faq(list(paths))
    except FaqError as exc:
        if old is None:
            path.unlink()
        else:
            path.write_text(old, encoding="utf-8")
        raise FaqEditError(f"The edit would make the FAQ invalid: {exc}") from None


def _new_questions(entry: FaqEntry | None, questions: Sequence[str]) -> list[str]:
    seen = {q.casefold() for q in (entry.questions if entry else [])}
    fresh = []
    for q in questions:
        q = " ".join(str(q).split())
        if q and q.casefold() not in seen:
            seen.add(q.casefold())
            fresh.append(q)
    return fresh


def _source_of(entry_id: str, paths: Sequence[Path]) -> tuple[Path, yaml.MappingNode]:
    """The YAML file defining entry_id and the entry's node in it."""
    for file in faq_files(paths):
        if file.suffix not in (".yml", ".yaml"):
            continue
        root = yaml.compose(file.read_text(encoding="utf-8"))
        if isinstance(root, yaml.MappingNode):
            root = next((v for k, v in root.value if k.value == "entries"), None)
        if not isinstance(root, yaml.SequenceNode):
            continue
        for node in root.value:
            if isinstance(node, yaml.MappingNode) and any(
                k.value == "id" and getattr(v, "value", None) == entry_id for k, v in node.value
            ):
                return file, node
    raise FaqEditError(f"Entry '{entry_id}' is not defined in a YAML FAQ file, so it cannot be "
                       "edited here; edit its source by hand.")


def add_paraphrases(*, paths: Sequence[Path], entry_id: str, questions: Sequence[str]) -> Edit:
    """Add questions (new ones only) to an existing entry, in its own source file."""
    entries = _entries(paths)
    entry = entries.get(entry_id)
    if entry is None:
        raise FaqEditError(f"There is no FAQ entry '{entry_id}'.")
    fresh = _new_questions(entry, questions)
    if not fresh:
        raise FaqEditError(f"Entry '{entry_id}' already has all of these questions.")
    file, node = _source_of(entry_id, paths)
    sequence = next((v for k, v in node.value if k.value == "questions"), None)
    if not isinstance(sequence, yaml.SequenceNode) or sequence.flow_style or not sequence.value:
        raise FaqEditError(f"The questions of '{entry_id}' in {file.name} are not a block list; "
                           "edit it by hand.")
    lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
    last = sequence.value[-1]
    dash = lines[last.start_mark.line][: last.start_mark.column].rstrip()
    if not dash.endswith("-"):
        raise FaqEditError(f"Unexpected layout of '{entry_id}' in {file.name}; edit it by hand.")
    indent = " " * (len(dash) - 1)
    at = last.end_mark.line + (1 if last.end_mark.column > 0 else 0)
    if at > len(lines) or (at == len(lines) and lines and not lines[-1].endswith("\n")):
        lines[-1] = lines[-1] + "\n" if lines else ""
    added = [f"{indent}- {_scalar(q)}\n" for q in fresh]
    _write_checked(file, "".join(lines[:at] + added + lines[at:]), paths, created=False)
    after = _entries(paths)[entry_id]
    if after.questions[-len(fresh):] != fresh:
        file.write_text("".join(lines), encoding="utf-8")
        raise FaqEditError(f"Could not add the questions to '{entry_id}' in {file.name}.")
    return Edit(file, entry_id, entry.model_dump(), after.model_dump())


def add_entry(*, paths: Sequence[Path], entry: FaqEntry) -> Edit:
    """Append a new entry to learned.yml in the first FAQ directory."""
    if entry.id in _entries(paths):
        raise FaqEditError(f"An entry '{entry.id}' exists already; choose another id or add "
                           "paraphrases to it.")
    directory = next((Path(p) for p in paths if Path(p).is_dir()), None)
    if directory is None:
        raise FaqEditError("No FAQ directory to write a new entry to.")
    file = directory / LEARNED_FILE
    created = not file.exists()
    text = LEARNED_HEADER if created else file.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text += "\n"
    block = [f"\n- id: {entry.id}\n", "  questions:\n"]
    block += [f"    - {_scalar(q)}\n" for q in entry.questions]
    block.append(f"  answer: {_scalar(entry.answer)}\n")
    if entry.tags:
        block.append(f"  tags: [{', '.join(_scalar(t) for t in entry.tags)}]\n")
    if entry.language != "en":
        block.append(f"  language: {_scalar(entry.language)}\n")
    _write_checked(file, text + "".join(block), paths, created=created)
    return Edit(file, entry.id, None, _entries(paths)[entry.id].model_dump())
