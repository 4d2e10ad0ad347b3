"""Benchmark: ``python -m knowledge.tools.bench --banking77-train P [--banking77-test P]
--clinc P``.

Each intent becomes one FAQ entry whose paraphrases are its training queries; the engine is built
by ``knowledge.build.build`` and queried through ``FaqEngine`` exactly as the bot does. The
engine column fine-tunes the encoder on the training paraphrases first (``knowledge.tools.tune``,
``--tune-epochs``; 0 skips it), as an operator would with ``python -m knowledge.tools.tune``; the
"untuned" column is the same engine on the packaged model. Two references run in the same
process on the same splits: TF-IDF nearest neighbour (scikit-learn) and plain all-MiniLM-L6-v2
nearest neighbour (exact faiss). Prints one table (``--json``: JSON). Sentence embeddings, tuned
models and synthetic indexes are cached under ``var/bench-cache``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.build import DEFAULT_OOS, build, index_store, read_oos
from knowledge.build.onnx_export import ensure_export
from knowledge.build.sources import FaqEntry, slugify
from knowledge.runtime import index as index_files
from knowledge.runtime.encoders import Encoder, Vectors, load_encoder
from knowledge.runtime.engine import FaqEngine, Hit

ROOT = Path(__file__).resolve().parents[2]
SEED = 0
N_LATENCY = 300
N_WARMUP = 30
SCALES = (10_000, 100_000, 1_000_000)


@dataclass
class Dataset:
    """Train/evaluation split of an intent dataset; oos_* are out-of-scope queries."""

    name: str
    train: list[tuple[str, str]]
    test: list[tuple[str, str]]
    oos_train: list[str] = field(default_factory=list)
    oos_test: list[str] = field(default_factory=list)
    note: str = ""


def load_banking77(train_path: Path, test_path: Path | None) -> Dataset:
    """BANKING77 CSV(s) (text,category); without a test file, a stratified 20% hold-out."""

    def read(path: Path) -> list[tuple[str, str]]:
        with path.open(newline="", encoding="utf-8") as handle:
            return [(r["text"], r["category"]) for r in csv.DictReader(handle)]

    train = read(train_path)
    if test_path is not None:
        return Dataset("banking77", train, read(test_path), note="test file")
    from sklearn.model_selection import train_test_split

    tr, te = train_test_split(
        train, test_size=0.2, stratify=[c for _, c in train], random_state=SEED
    )
    note = f"no test file: stratified 20% of train held out (seed {SEED}), {len(tr)}/{len(te)}"
    return Dataset("banking77", tr, te, note=note)


def load_clinc(path: Path) -> Dataset:
    """CLINC150 JSON; evaluates on test/oos_test if present, else val/oos_val."""
    data = json.loads(path.read_text())
    split = "test" if "test" in data else "val"
    pairs = lambda key: [(t, c) for t, c in data.get(key, [])]  # noqa: E731
    return Dataset(
        "clinc150",
        pairs("train"),
        pairs(split),
        oos_train=[t for t, _ in data.get("oos_train", [])],
        oos_test=[t for t, _ in data.get(f"oos_{split}", [])],
        note=f"evaluated on {split} + oos_{split}; oos_train used only to set thresholds",
    )


class VectorStore:
    """Sentence vectors keyed by text, persisted as one .npz per model (embedding is slow)."""

    def __init__(self, path: Path, encoder: Encoder) -> None:
        self.path, self.encoder = path, encoder
        self.rows: dict[str, int] = {}
        self.vectors = np.zeros((0, encoder.dim), dtype=np.float32)
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                self.vectors = data["vectors"]
                self.rows = {t: i for i, t in enumerate(data["texts"].tolist())}

    def get(self, texts: Sequence[str], progress: bool = True) -> Vectors:
        """Vectors for texts, embedding (and saving) the ones not stored yet."""
        missing = sorted({t for t in texts if t not in self.rows})
        if missing:
            fresh = self.encoder.encode(missing, progress=progress)
            base = len(self.vectors)
            self.vectors = np.vstack([self.vectors, fresh])
            self.rows.update({t: base + i for i, t in enumerate(missing)})
            texts_all = sorted(self.rows, key=self.rows.__getitem__)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp.npz")
            np.savez(tmp, vectors=self.vectors, texts=np.array(texts_all))
            tmp.replace(self.path)
        return self.vectors[[self.rows[t] for t in texts]]


class StoreEncoder(Encoder):
    """An Encoder whose batch encoding reads the VectorStore; single queries run the model."""

    def __init__(self, base: Encoder, store: VectorStore) -> None:
        super().__init__(id=base.id, dim=base.dim, backend=base.backend)
        self.base, self.store = base, store

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> Vectors:
        """Stored vectors (embedding the missing ones)."""
        return self.store.get(texts, progress=progress)

    def encode_one(self, text: str) -> Vectors:
        """The real model: this is the path whose latency is measured."""
        return self.base.encode_one(text)


def fast_encoder(model: str, models_dir: Path) -> Encoder:
    """The encoder as the action server runs it: ONNX (exported here if missing), else numpy."""
    ensure_export(model, models_dir)
    return load_encoder(model, cache_dir=models_dir)


def stored(base: Encoder, cache: Path) -> StoreEncoder:
    """base, with batch encodings cached in cache (keyed by the model id)."""
    name = "vectors-" + hashlib.sha256(base.id.encode()).hexdigest()[:12] + ".npz"
    return StoreEncoder(base, VectorStore(cache / name, base))


def tuned_model(data: Dataset, base_model: str, cache: Path, epochs: int) -> tuple[str, float]:
    """Fine-tune base_model on data.train (cached by data and parameters); (path, seconds)."""
    from knowledge.tools.tune import TuneParams, fine_tune

    params = TuneParams(epochs=epochs)
    labels = sorted({c for _, c in data.train})
    number = {c: i for i, c in enumerate(labels)}
    key = hashlib.sha256(json.dumps([base_model, data.train, repr(params)]).encode()).hexdigest()[
        :12
    ]
    out = cache / f"tuned-{data.name}-{key}"
    timing = out / "bench_tune_seconds.txt"
    if not timing.exists():
        started = time.perf_counter()
        fine_tune(
            base_model, [t for t, _ in data.train], [number[c] for _, c in data.train], out, params
        )
        timing.write_text(f"{time.perf_counter() - started:.1f}\n")
    return str(out), float(timing.read_text())


def rss_mb() -> float:
    """Current resident set size of this process in MB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    arr = np.asarray(samples) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))


def best_threshold(in_scores: Vectors, in_correct: np.ndarray, oos_scores: Vectors) -> float:
    """Threshold on a score maximising in-scope accuracy + OOS recall (the engine's rule)."""
    candidates = np.unique(np.concatenate([in_scores, oos_scores]))
    best, best_t = -1.0, 0.0
    for t in candidates[:: max(1, len(candidates) // 2000)]:
        value = float((in_correct & (in_scores >= t)).mean() + (oos_scores < t).mean())
        if value > best:
            best, best_t = value, float(t)
    return best_t


@dataclass
class Method:
    """A nearest-neighbour style classifier: fit, then score a vector/text -> (label, score)."""

    name: str
    fit: Callable[[list[str], list[str]], None]
    predict: Callable[[list[str]], tuple[list[str], Vectors]]
    single: Callable[[str], object]


def evaluate(
    data: Dataset,
    labels: list[str],
    scores: Vectors,
    declined: np.ndarray,
    oos_scores: Vectors | None,
    oos_declined: np.ndarray | None,
) -> dict[str, float]:
    """Accuracy figures for one method on one dataset."""
    gold = [c for _, c in data.test]
    correct = np.array([p == g for p, g in zip(labels, gold, strict=True)])
    out = {"top1": float(correct.mean())}
    if oos_scores is not None and oos_declined is not None and len(oos_scores):
        from sklearn.metrics import roc_auc_score

        out["in_scope_acc"] = float((correct & ~declined).mean())
        out["oos_recall"] = float(oos_declined.mean())
        y = np.r_[np.ones(len(scores)), np.zeros(len(oos_scores))]
        out["auroc"] = float(roc_auc_score(y, np.r_[scores, oos_scores]))
    return out


def run_engine(
    data: Dataset, encoder: StoreEncoder, model: str, cache: Path
) -> tuple[dict[str, Any], FaqEngine]:
    """Build the engine's index for a dataset and evaluate it through FaqEngine."""
    by_label: dict[str, list[str]] = {}
    for text, label in data.train:
        by_label.setdefault(label, []).append(text)
    ids = {label: slugify(label) for label in by_label}
    entries = [
        FaqEntry(id=ids[label], answer=f"[{label}]", questions=texts, tags=[data.name])
        for label, texts in sorted(by_label.items())
    ]
    oos = data.oos_train or read_oos(DEFAULT_OOS)
    index_dir = cache / f"engine-{data.name}"
    rss0 = rss_mb()
    report = build(
        entries,
        index_dir=index_dir,
        model=model,
        oos_texts=oos,
        cache_dir=cache / "build-cache",
        encoder=encoder,
        progress=False,
        force=True,
    )
    engine = FaqEngine(index_dir, encoder)
    rss_engine = rss_mb() - rss0
    back = {v: k for k, v in ids.items()}
    rule = engine.manifest.thresholds

    def decision_score(hit: Hit) -> float:  # what the decline decision compares (AUROC)
        return hit.score * rule.factor(hit.similarity)

    test_vectors = encoder.encode([t for t, _ in data.test])
    labels, scores, declined, probs = [], [], [], []
    for vector in test_vectors:
        decision = engine.decide_hits(engine.search_vector(vector[None, :], k=2))
        labels.append(back[decision.hits[0].entry_id])
        scores.append(decision_score(decision.hits[0]))
        probs.append(decision.hits[0].score)
        declined.append(decision.kind == "decline")
    oos_scores = oos_declined = None
    if data.oos_test:
        oos_s, oos_d = [], []
        for vector in encoder.encode(data.oos_test):
            decision = engine.decide_hits(engine.search_vector(vector[None, :], k=2))
            oos_s.append(decision_score(decision.hits[0]))
            oos_d.append(decision.kind == "decline")
        oos_scores, oos_declined = np.array(oos_s), np.array(oos_d)
    result: dict[str, Any] = evaluate(
        data, labels, np.array(scores), np.array(declined), oos_scores, oos_declined
    )
    for text, _ in data.train[:N_WARMUP]:  # a serving process is warm
        engine.decide(text)
    lat = []
    for text, _ in data.test[:N_LATENCY]:
        started = time.perf_counter()
        engine.decide(text)
        lat.append(time.perf_counter() - started)
    result["lat_p50"], result["lat_p95"] = percentiles(lat)
    gold = [c for _, c in data.test]
    result["ece"] = calibration_error(
        np.array(probs), np.array([p == g for p, g in zip(labels, gold, strict=True)])
    )
    result["build_s"] = report.seconds
    result["rss_mb"] = rss_engine
    result["threshold"] = engine.manifest.thresholds.answer
    result["index_type"] = report.index_type
    return result, engine


def calibration_error(confidence: Vectors, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |accuracy - mean score| per score decile, weighted by size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            gap = abs(float(correct[members].mean()) - float(confidence[members].mean()))
            total += members.mean() * gap
    return float(total)


def run_reference(data: Dataset, kind: str, encoder: StoreEncoder) -> dict[str, Any]:
    """TF-IDF or plain MiniLM 1-nearest-neighbour, threshold chosen on a train hold-out."""
    import faiss
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import train_test_split

    def fit(pairs: list[tuple[str, str]]) -> Callable[[list[str]], tuple[list[str], Vectors]]:
        texts, labels = [t for t, _ in pairs], [c for _, c in pairs]
        if kind == "tfidf":
            vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
            matrix = vectorizer.fit_transform(texts)

            def predict_tfidf(queries: list[str]) -> tuple[list[str], Vectors]:
                sims = (vectorizer.transform(queries) @ matrix.T).toarray()
                best = sims.argmax(axis=1)
                return [labels[i] for i in best], sims.max(axis=1).astype(np.float32)

            return predict_tfidf
        index = faiss.IndexFlatIP(encoder.dim)
        index.add(encoder.encode(texts))

        def predict_nn(
            queries: list[str], vectors: Vectors | None = None
        ) -> tuple[list[str], Vectors]:
            q = (
                vectors
                if vectors is not None
                else np.vstack([encoder.base.encode_one(t) for t in queries])
            )
            sims, rows = index.search(q, 1)
            return [labels[i] for i in rows[:, 0]], sims[:, 0]

        predict_nn.index = index  # type: ignore[attr-defined]
        return predict_nn

    out: dict[str, Any] = {}
    threshold = None
    if data.oos_train:  # threshold from a hold-out of train + oos_train, never the test split
        tr, dev = train_test_split(
            data.train, test_size=0.2, stratify=[c for _, c in data.train], random_state=SEED
        )
        predict = fit(tr)
        dev_texts = [t for t, _ in dev]
        dl, ds = _predict(predict, kind, encoder, dev_texts)
        _, os_ = _predict(predict, kind, encoder, data.oos_train)
        correct = np.array([a == b for a, (_, b) in zip(dl, dev, strict=True)])
        threshold = best_threshold(ds, correct, os_)
    rss0 = rss_mb()
    started = time.perf_counter()
    predict = fit(data.train)
    out["build_s"] = time.perf_counter() - started
    out["rss_mb"] = rss_mb() - rss0
    labels, scores = _predict(predict, kind, encoder, [t for t, _ in data.test])
    oos_scores = oos_declined = None
    declined = np.zeros(len(scores), dtype=bool)
    if threshold is not None:
        declined = scores < threshold
        _, oos_scores = _predict(predict, kind, encoder, data.oos_test)
        oos_declined = oos_scores < threshold
        out["threshold"] = threshold
    out.update(evaluate(data, labels, scores, declined, oos_scores, oos_declined))
    for text, _ in data.train[:N_WARMUP]:
        predict([text])
    lat = []
    for text, _ in data.test[:N_LATENCY]:
        started = time.perf_counter()
        predict([text])
        lat.append(time.perf_counter() - started)
    out["lat_p50"], out["lat_p95"] = percentiles(lat)
    return out


def _predict(
    predict: Callable[..., tuple[list[str], Vectors]],
    kind: str,
    encoder: StoreEncoder,
    texts: list[str],
) -> tuple[list[str], Vectors]:
    if kind == "tfidf":
        return predict(texts)
    return predict(texts, encoder.encode(texts))  # batch evaluation uses the stored vectors


def run_scale(encoder: Encoder, cache: Path, sizes: Sequence[int]) -> dict[str, Any]:
    """Search latency and recall@10 of the engine's index type vs exact (and, for approximate
    sizes, vs HNSW, the previous default) on synthetic vectors."""
    import faiss

    from knowledge.tools.synthetic import cached_index, clustered_vectors, queries_near

    texts = [q.strip() for q in read_oos(DEFAULT_OOS)]
    results: dict[str, Any] = {}
    for n in sizes:
        vectors = clustered_vectors(n)
        queries = queries_near(vectors, 200)
        exact = faiss.IndexFlatIP(vectors.shape[1])
        exact.add(vectors)
        kind = index_store.index_type_for(n)
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # building: use both cores
        candidates: dict[str, Any] = {"exact": (exact, 0.0)}
        if kind != "flat":
            candidates["engine"] = cached_index(vectors, kind, cache / _scale_name(n, kind))
            candidates["hnsw"] = cached_index(vectors, "hnsw", cache / _scale_name(n, "hnsw"))
        else:
            candidates["engine"] = (exact, 0.0)
        _, truth = exact.search(queries, 10)
        faiss.omp_set_num_threads(1)  # as the engine does (knowledge/runtime/engine.py)
        row: dict[str, Any] = {"index_type": kind}
        for label, (idx, build_s) in candidates.items():
            index_files.configure_search(idx)  # as FaqEngine does after loading
            e2e = []
            for i in range(len(queries)):
                started = time.perf_counter()
                idx.search(encoder.encode_one(texts[i % len(texts)]), 10)
                e2e.append(time.perf_counter() - started)
            row[label] = _search_figures(idx, queries, truth) | {
                "e2e_p50": percentiles(e2e)[0],
                "e2e_p95": percentiles(e2e)[1],
                "build_s": build_s,
            }
        results[str(n)] = row
        del vectors, exact, candidates
    return results


def run_real_ivf(vectors: Vectors) -> dict[str, Any]:
    """IVF (as the engine would build it) vs exact on real sentence vectors: the synthetic
    vectors might suit IVF better than real ones. 200 of the vectors are the queries."""
    import faiss

    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(vectors))
    queries, base = vectors[order[:200]], vectors[order[200:]]
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    ivf = index_store.make_faiss_index(base, "ivf")
    faiss.omp_set_num_threads(1)
    exact = index_store.make_faiss_index(base, "flat")
    _, want = exact.search(queries, 10)
    return {"n": len(base)} | _search_figures(ivf, queries, want)


def _search_figures(index: Any, queries: Vectors, truth: np.ndarray) -> dict[str, Any]:
    """Single-query search latency p50/p95 and recall@10 against truth (exact top-10 ids)."""
    lat, found = [], []
    for i in range(len(queries)):
        started = time.perf_counter()
        _, ids = index.search(queries[i : i + 1], 10)
        lat.append(time.perf_counter() - started)
        found.append(ids[0])
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    p50, p95 = percentiles(lat)
    return {
        "search_p50": p50,
        "search_p95": p95,
        "recall10": float(recall),
        "setting": _search_setting(index),
    }


def _scale_name(n: int, kind: str) -> str:
    if kind == "hnsw":
        return (
            f"synthetic2-{n}-hnsw-M{index_store.HNSW_M}-efc{index_store.HNSW_EF_CONSTRUCTION}.faiss"
        )
    return f"synthetic2-{n}-{kind}-{index_store.ivf_lists_for(n)}.faiss"


def _search_setting(index: Any) -> str:
    import faiss

    if hasattr(index, "hnsw"):
        return f"HNSW M={index_store.HNSW_M} efSearch={index.hnsw.efSearch}"
    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:
        return "exact"
    return f"IVF lists={ivf.nlist} nprobe={ivf.nprobe}"


def run_demo_builds(model: str) -> dict[str, float]:
    """Wall-clock times of `python -m knowledge.build` on the demo FAQ, in fresh processes."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        faq = tmp / "faq"
        shutil.copytree(ROOT / "knowledge" / "faq", faq)
        cmd = [
            sys.executable,
            "-m",
            "knowledge.build",
            "--faq",
            str(faq),
            "--index-dir",
            str(tmp / "index"),
            "--model",
            model,
            "--quiet",
        ]

        def timed() -> float:
            started = time.perf_counter()
            subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
            return time.perf_counter() - started

        out["demo_cold_s"] = timed()
        out["demo_nochange_s"] = timed()
        first = sorted(faq.glob("*.yml"))[0]
        text = first.read_text()
        first.write_text(text.replace("questions:\n", "questions:\n    - an extra paraphrase\n", 1))
        out["demo_one_edit_s"] = timed()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m knowledge.tools.bench", description=__doc__)
    parser.add_argument("--banking77-train", type=Path, required=True)
    parser.add_argument("--banking77-test", type=Path)
    parser.add_argument("--clinc", type=Path, required=True)
    parser.add_argument("--model", help="default: the settings' embedding model")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "bench-cache")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--skip-scale", action="store_true", help="no synthetic 10k/100k/1M part")
    parser.add_argument(
        "--tune-epochs",
        type=int,
        default=3,
        help="fine-tune the encoder on each training split first (0: don't; ~4 min per epoch "
        "per 8k sentences on 2 cores, cached)",
    )
    args = parser.parse_args(argv)

    from relay.settings import get_settings

    settings = get_settings()
    model = args.model or settings.embedding_model
    models_dir = args.cache_dir / "models"
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))
    started = time.perf_counter()
    ensure_export(model, models_dir)  # imports torch: before the encoder's RSS is measured
    rss0 = rss_mb()
    base = load_encoder(model, cache_dir=models_dir)
    encoder_rss = rss_mb() - rss0
    encoder = stored(base, args.cache_dir)
    datasets = [
        load_banking77(args.banking77_train, args.banking77_test),
        load_clinc(args.clinc),
    ]
    all_texts = [t for d in datasets for t, _ in d.train + d.test] + [
        t for d in datasets for t in d.oos_train + d.oos_test
    ]
    say(f"embedding (cached in {args.cache_dir}) ...")
    encoder.encode(all_texts, progress=not args.json)
    results: dict[str, Any] = {
        "model": base.id,
        "tune_epochs": args.tune_epochs,
        "encoder_backend": base.backend,
        "encoder_rss_mb": encoder_rss,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "notes": {d.name: d.note for d in datasets},
    }
    for data in datasets:
        say(f"{data.name}: engine, untuned ...")
        results.setdefault(data.name, {})["untuned"], _ = run_engine(
            data, encoder, model, args.cache_dir
        )
        if args.tune_epochs > 0:
            say(f"{data.name}: fine-tuning the encoder ({args.tune_epochs} epochs, cached) ...")
            tuned, tune_s = tuned_model(data, model, args.cache_dir, args.tune_epochs)
            tuned_encoder = stored(fast_encoder(tuned, models_dir), args.cache_dir)
            say(f"{data.name}: engine, tuned ...")
            row, _ = run_engine(data, tuned_encoder, tuned, args.cache_dir)
            row["tune_s"] = tune_s
            results[data.name]["engine"] = row
        else:
            results[data.name]["engine"] = results[data.name]["untuned"]
        for kind in ("minilm_nn", "tfidf_nn"):
            say(f"{data.name}: {kind} ...")
            results[data.name][kind] = run_reference(
                data, "tfidf" if kind == "tfidf_nn" else "minilm", encoder
            )
    say("demo FAQ builds ...")
    results["demo_build"] = run_demo_builds(model)
    if not args.skip_scale:
        say("synthetic scale ...")
        results["scale"] = run_scale(base, args.cache_dir, SCALES)
        results["real_ivf"] = run_real_ivf(encoder.store.vectors)
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["total_s"] = time.perf_counter() - started
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 0


def render(r: dict[str, Any]) -> str:
    """The results as one plain-text table."""
    cols = ("engine", "untuned", "minilm_nn", "tfidf_nn")
    tuned = f"engine, tuned {r.get('tune_epochs', 0)} ep" if r.get("tune_epochs") else "engine"
    rows: list[tuple[str, ...]] = [
        ("metric", tuned, "engine, untuned", "MiniLM 1-NN", "TF-IDF 1-NN", "target")
    ]

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.2f}%"

    def ms(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f} ms"

    def get(ds: str, col: str, key: str) -> Any:
        return r.get(ds, {}).get(col, {}).get(key)

    rows.append(("BANKING77 top-1", *(pct(get("banking77", c, "top1")) for c in cols), ">= 94.5%"))
    rows.append(
        ("CLINC150 top-1 (no threshold)", *(pct(get("clinc150", c, "top1")) for c in cols), "")
    )
    rows.append(
        (
            "CLINC150 in-scope acc @thr",
            *(pct(get("clinc150", c, "in_scope_acc")) for c in cols),
            ">= 96.5%",
        )
    )
    rows.append(
        (
            "CLINC150 OOS recall @thr",
            *(pct(get("clinc150", c, "oos_recall")) for c in cols),
            ">= 70%",
        )
    )
    rows.append(
        (
            "CLINC150 AUROC in vs OOS",
            *(
                "-" if get("clinc150", c, "auroc") is None else f"{get('clinc150', c, 'auroc'):.3f}"
                for c in cols
            ),
            "",
        )
    )
    for ds in ("banking77", "clinc150"):
        rows.append(
            (
                f"{ds} top score calibration error (ECE)",
                *(
                    "-" if get(ds, c, "ece") is None else f"{100 * get(ds, c, 'ece'):.1f} pt"
                    for c in cols
                ),
                "",
            )
        )
    for ds in ("banking77", "clinc150"):
        rows.append(
            (
                f"{ds} query p50 / p95 (encode+search)",
                *(f"{get(ds, c, 'lat_p50'):.1f} / {get(ds, c, 'lat_p95'):.1f} ms" for c in cols),
                "p95 <= 15 ms",
            )
        )
    for ds in ("banking77", "clinc150"):
        rows.append(
            (f"{ds} build (vectors cached)", *(f"{get(ds, c, 'build_s'):.1f} s" for c in cols), "")
        )
        rows.append(
            (f"{ds} RSS of index/head", *(f"{get(ds, c, 'rss_mb'):.0f} MB" for c in cols), "")
        )
    rows.append(
        (
            "encoder RSS (shared)",
            f"{r['encoder_rss_mb']:.0f} MB",
            f"{r['encoder_rss_mb']:.0f} MB",
            f"{r['encoder_rss_mb']:.0f} MB",
            "-",
            "",
        )
    )
    demo = r.get("demo_build", {})
    rows.append(
        (
            "demo FAQ build, cold (process)",
            f"{demo.get('demo_cold_s', 0):.2f} s",
            "-",
            "-",
            "-",
            "<= 10 s",
        )
    )
    rows.append(
        (
            "demo FAQ rebuild, 1 entry edited",
            f"{demo.get('demo_one_edit_s', 0):.2f} s",
            "-",
            "-",
            "-",
            "<= 2 s",
        )
    )
    rows.append(
        (
            "demo FAQ build, nothing changed",
            f"{demo.get('demo_nochange_s', 0):.2f} s",
            "-",
            "-",
            "-",
            "< 1 s",
        )
    )
    for n, row in r.get("scale", {}).items():
        label = f"{int(n) // 1000}k" if int(n) < 1_000_000 else "1M"
        target = "<= 15 ms" if label == "10k" else ("<= 25 ms" if label == "1M" else "")
        for key in ("engine", "hnsw", "exact"):
            if key not in row or (key == "exact" and row["index_type"] == "flat"):
                continue
            x = row[key]
            name = {"engine": "engine", "hnsw": "HNSW (before)", "exact": "exact"}[key]
            built = f", built in {x['build_s']:.0f} s" if x.get("build_s") else ""
            rows.append(
                (
                    f"synthetic {label}, {name}: {x['setting']}{built}",
                    f"search {x['search_p50']:.2f} / {x['search_p95']:.2f} ms",
                    f"recall@10 {pct(x['recall10'])}",
                    f"encode+search p95 {ms(x['e2e_p95'])}",
                    "-",
                    target if key == "engine" else "",
                )
            )
    if "real_ivf" in r:
        x = r["real_ivf"]
        rows.append(
            (
                f"{x['n'] // 1000}k real MiniLM sentence vectors: {x['setting']}",
                f"search {x['search_p50']:.2f} / {x['search_p95']:.2f} ms",
                f"recall@10 {pct(x['recall10'])}",
                "-",
                "-",
                "",
            )
        )
    for ds in ("banking77", "clinc150"):
        if get(ds, "engine", "tune_s") is not None:
            rows.append(
                (
                    f"{ds} fine-tuning (once, cached)",
                    f"{get(ds, 'engine', 'tune_s'):.0f} s",
                    "-",
                    "-",
                    "-",
                    "",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [
        f"model {r['model']} ({r['encoder_backend']}); {r['machine']}; "
        f"peak RSS {r['peak_rss_mb']:.0f} MB; total {r['total_s']:.0f} s"
    ]
    notes += [f"{k}: {v}" for k, v in r["notes"].items()]
    thr = r.get("clinc150", {})
    notes.append(
        "CLINC thresholds: "
        + ", ".join(f"{c} {thr[c]['threshold']:.3f}" for c in cols if "threshold" in thr.get(c, {}))
    )
    notes.append(
        "synthetic: seeded random unit vectors, dim 384, organised as topics > entries > ~10 "
        "paraphrases (knowledge/tools/synthetic.py); queries are perturbed stored vectors; "
        "encode+search encodes a real sentence first; search columns are p50 / p95"
    )
    return "\n".join([*lines, "", *notes])


if __name__ == "__main__":
    raise SystemExit(main())
