"""The NLU data in Relay's languages: every turn kind in each, and the benchmark's test messages
held out of it."""

from __future__ import annotations

import re
from collections import defaultdict

import yaml

from relay.languages import CODES, DEFAULT
from relay.settings import ROOT

DATA = ROOT / "bot" / "data"
TURNS = ROOT / "bot" / "multilingual_experiment" / "turns.yml"
ENTITY = re.compile(r"\[([^\]]+)\]\([^)]+\)")


def examples() -> dict[str, set[tuple[str, str]]]:
    """Every training example (entity markup removed, case-folded) → its (intent, file)s."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in sorted(DATA.rglob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            for line in block["examples"].splitlines():
                text = ENTITY.sub(r"\1", line.strip()[2:]).strip()
                if text:
                    found[text.casefold()].add((block["intent"], path.name))
    return found


def test_every_language_has_examples_of_every_turn_kind() -> None:
    english = {intent for pairs in examples().values() for intent, name in pairs
               if not name.startswith("nlu_") or name in ("nlu_tasks.yml", "nlu_faq.yml")}
    english -= {"choose_faq"}  # a button's payload, not typed
    for code in CODES:
        if code == DEFAULT:
            continue
        path = DATA / "languages" / f"nlu_{code}.yml"
        blocks = yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]
        counts = {b["intent"]: len(b["examples"].strip().splitlines()) for b in blocks}
        assert set(counts) == english, f"{path.name}: {english ^ set(counts)}"
        assert min(counts.values()) >= 6, f"{path.name}: {counts}"


def test_the_benchmarks_test_messages_are_not_trained_on() -> None:
    turns = yaml.safe_load(TURNS.read_text(encoding="utf-8"))
    held_out = {t.casefold() for by_lang in turns.values() for split in by_lang.values()
                for t in split["test"]}
    trained = set(examples())
    assert held_out & trained == set()


def test_no_example_is_given_two_intents() -> None:
    conflicting = {text: pairs for text, pairs in examples().items()
                   if len({intent for intent, _ in pairs}) > 1}
    assert conflicting == {}
