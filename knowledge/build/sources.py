"""FAQ entries and their sources: YAML (the editable format), CSV and Markdown imports.

YAML (``knowledge/faq/*.yml``): a list of entries, or a mapping with an ``entries`` list::

    - id: pro-price                     # slug: lowercase letters, digits, '-' and '_'
      questions:                        # paraphrases a customer might type (at least one)
        - How much does Pro cost?
        - What is the price of the Pro plan?
      answer: Pro costs $8 per user per month, billed monthly or yearly.
      tags: [billing, plans]
      language: en                      # optional, default en: the language of `answer`
      answers:                          # optional: the answer in other languages
        es: Pro cuesta 8 $ por usuario y mes, con facturación mensual o anual.
        zh: 专业版每位用户每月 8 美元。

Questions may be written in any language (a customer's wording is a paraphrase whatever its
language); a customer is answered in their language when ``answers`` has it, otherwise in
``language`` (actions/faq.py says so).

CSV (``*.csv``): columns ``id,question,answer,tags`` (``language`` and ``answer_<lang>``, e.g.
``answer_zh``, optional); several rows with the same id add paraphrases; the answers may be left
empty on the extra rows; tags are separated by ``;`` or ``,``.

Markdown (``*.md``): one entry per ``## question`` heading, a ``### <lang>`` heading inside the
answer starts its translation into that language; see docs/knowledge.md::

    ## How much does Pro cost?
    id: pro-price
    tags: billing, plans
    - What is the price of the Pro plan?
    - ¿Cuánto cuesta Pro?

    Pro costs $8 per user per month.

    ### es
    Pro cuesta 8 $ por usuario y mes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SUFFIXES = (".yml", ".yaml", ".csv", ".md")
_SLUG = r"^[a-z0-9][a-z0-9_-]*$"
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")  # an ISO 639 code, as relay.languages uses them


class FaqError(ValueError):
    """One or more FAQ sources are invalid; the message names each file and entry."""


class FaqEntry(BaseModel):
    """One FAQ entry: an answer and the questions (paraphrases) it answers."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=100, pattern=_SLUG)
    answer: str = Field(min_length=1)
    questions: list[str] = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    language: str = Field(default="en", min_length=2, max_length=12)  # the language of `answer`
    answers: dict[str, str] = Field(default_factory=dict)  # translations of answer, by language

    @field_validator("answers")
    @classmethod
    def _answers(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [code for code in value if not _LANGUAGE.match(code)]
        if bad:
            raise ValueError(f"languages must be ISO 639 codes like 'es' or 'zh', not {bad}")
        if any(not text.strip() for text in value.values()):
            raise ValueError("an answer is empty")
        return {code: text.strip() for code, text in sorted(value.items())}

    @field_validator("questions")
    @classmethod
    def _questions(cls, value: list[str]) -> list[str]:
        cleaned = [" ".join(q.split()) for q in value]
        if any(not q for q in cleaned):
            raise ValueError("a question is empty")
        seen: set[str] = set()
        unique = []
        for q in cleaned:  # duplicates would only double-count one paraphrase
            if q.casefold() not in seen:
                seen.add(q.casefold())
                unique.append(q)
        return unique

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return [t.strip() for t in value if t.strip()]

    def answer_in(self, language: str) -> tuple[str, str]:
        """The answer in that language if the entry has it, else its own: (text, language)."""
        if language != self.language and language in self.answers:
            return self.answers[language], language
        return self.answer, self.language

    def embed_hash(self) -> str:
        """Hash of what gets embedded (the questions): vectors are reused while it is unchanged."""
        return _sha({"questions": self.questions})

    def content_hash(self) -> str:
        """Hash of the whole entry; any change makes the builder rewrite the index."""
        return _sha(self.model_dump())


def _sha(data: Any) -> str:
    raw = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def slugify(text: str) -> str:
    """A slug id from a question: 'How much is Pro?' -> 'how-much-is-pro'."""
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:80] or "entry"


def faq_files(paths: Iterable[Path]) -> list[Path]:
    """The FAQ source files under the given files or directories, in a stable order."""
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES))
        elif path.exists():
            files.append(path)
        else:
            raise FaqError(f"{path}: no such file or directory")
    return files


def load_faq(paths: Sequence[Path] | Path) -> list[FaqEntry]:
    """Load and validate every entry under the given paths; raise FaqError listing all problems."""
    if isinstance(paths, Path | str):
        paths = [Path(paths)]
    errors: list[str] = []
    entries: list[FaqEntry] = []
    origin: dict[str, str] = {}
    for file in faq_files(paths):
        try:
            raw_entries = _read_raw(file)
        except (OSError, UnicodeDecodeError, yaml.YAMLError, csv.Error, FaqError) as exc:
            errors.append(f"{file}: {exc}")
            continue
        for number, raw in enumerate(raw_entries, start=1):
            where = _where(file, number, raw)
            if not isinstance(raw, dict):
                errors.append(f"{where}: expected a mapping with id, questions, answer")
                continue
            try:
                entry = FaqEntry.model_validate(raw)
            except ValidationError as exc:
                errors.extend(f"{where}: {_describe(err)}" for err in exc.errors())
                continue
            if entry.id in origin:
                errors.append(f"{where}: duplicate id {entry.id!r} (first in {origin[entry.id]})")
                continue
            origin[entry.id] = str(file)
            entries.append(entry)
    if errors:
        raise FaqError("invalid FAQ:\n  " + "\n  ".join(errors))
    if not entries:
        raise FaqError(f"no FAQ entries found in {', '.join(map(str, paths))}")
    return entries


def _where(file: Path, number: int, raw: Any) -> str:
    ident = raw.get("id") if isinstance(raw, dict) else None
    return f"{file}: entry {number}" + (f" (id {ident!r})" if ident else "")


def _describe(err: Any) -> str:
    field = ".".join(str(p) for p in err["loc"]) or "entry"
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown field (allowed: id, questions, answer, answers, tags, language)"
    elif err["type"] == "string_pattern_mismatch":
        message = "must be a slug (lowercase letters, digits, '-' or '_')"
    return f"{field}: {message}"


def _read_raw(file: Path) -> list[Any]:
    suffix = file.suffix.lower()
    if suffix in (".yml", ".yaml"):
        return _read_yaml(file)
    if suffix == ".csv":
        return read_csv(file)
    if suffix == ".md":
        return read_markdown(file.read_text(encoding="utf-8"))
    raise FaqError(f"unsupported file type {suffix!r} (use {', '.join(SUFFIXES)})")


def _read_yaml(file: Path) -> list[Any]:
    # libyaml's loader when present: the pure-Python one is most of a no-op build's time.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(file.read_text(encoding="utf-8"), Loader=loader)
    if data is None:
        return []
    if isinstance(data, dict):
        if set(data) != {"entries"}:
            raise FaqError("a YAML FAQ file is a list of entries or a mapping with only 'entries'")
        data = data["entries"]
    if not isinstance(data, list):
        raise FaqError("a YAML FAQ file is a list of entries")
    return data


def _split_tags(text: str) -> list[str]:
    return [t.strip() for t in re.split(r"[;,]", text) if t.strip()]


_ANSWER_COLUMN = re.compile(r"^answer_([a-z]{2,3})$")


def read_csv(file: Path) -> list[dict[str, Any]]:
    """Raw entries from a CSV with columns id,question,answer,tags[,language][,answer_<lang>]."""
    with file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        missing = {"id", "question", "answer"} - columns
        if missing:
            raise FaqError(f"missing CSV column(s): {', '.join(sorted(missing))}")
        translated = {c: m.group(1) for c in columns if (m := _ANSWER_COLUMN.match(c))}
        unknown = columns - {"id", "question", "answer", "tags", "language"} - set(translated)
        if unknown:
            raise FaqError(f"unknown CSV column(s): {', '.join(sorted(unknown))} "
                           "(translated answers go in answer_<language>, e.g. answer_es)")
        merged: dict[str, dict[str, Any]] = {}
        for line, row in enumerate(reader, start=2):
            ident = (row.get("id") or "").strip()
            if not ident:
                raise FaqError(f"line {line}: empty id")
            entry = merged.setdefault(ident, {"id": ident, "questions": [], "tags": []})
            if row.get("question", "").strip():
                entry["questions"].append(row["question"])
            for column, holder, key in [("answer", entry, "answer")] + [
                (c, entry.setdefault("answers", {}), lang) for c, lang in sorted(translated.items())
            ]:
                answer = (row.get(column) or "").strip()
                if answer:
                    if holder.get(key) and holder[key] != answer:
                        raise FaqError(f"line {line} (id {ident!r}): a different {column} than "
                                       "before")
                    holder[key] = answer
            for tag in _split_tags(row.get("tags") or ""):
                if tag not in entry["tags"]:
                    entry["tags"].append(tag)
            if (row.get("language") or "").strip():
                entry["language"] = row["language"].strip()
        for entry in merged.values():
            entry.setdefault("answer", "")
        return list(merged.values())


_META = re.compile(r"^(id|tags|language):\s*(.*)$", re.IGNORECASE)
_TRANSLATION = re.compile(r"^###\s+([a-z]{2,3})\s*$")


def read_markdown(text: str) -> list[dict[str, Any]]:
    """Raw entries from the Markdown format: '## question', meta lines, '- paraphrase', answer,
    and '### <lang>' translations of the answer."""
    entries: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    answers: dict[str, list[str]] = {}  # "" is the answer, other keys its translations
    writing = ""

    def finish() -> None:
        if current is not None:
            current["answer"] = "\n".join(answers.get("", [])).strip()
            translated = {lang: "\n".join(lines).strip() for lang, lines in answers.items() if lang}
            if translated:
                current["answers"] = translated
            current.setdefault("id", slugify(current["questions"][0]))
            entries.append(current)

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("## "):
            finish()
            current, answers, writing = {"questions": [stripped[3:].strip()]}, {}, ""
            continue
        if current is None:  # a title or introduction before the first entry
            continue
        meta = _META.match(stripped)
        started = bool(answers)
        if (translation := _TRANSLATION.match(stripped)) is not None:
            writing = translation.group(1)
            answers.setdefault(writing, [])
        elif not started and meta:
            key, value = meta.group(1).lower(), meta.group(2).strip()
            current[key] = _split_tags(value) if key == "tags" else value
        elif not started and stripped.startswith(("- ", "* ")):
            current["questions"].append(stripped[2:].strip())
        elif stripped or answers.get(writing):
            answers.setdefault(writing, []).append(line.rstrip())
    finish()
    return entries
