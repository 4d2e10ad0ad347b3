"""Build the FAQ indexes: ``python -m knowledge.build [--faq PATH] [--index-dir DIR] [--model M]``.

Without --index-dir/--model: every index the settings name (settings.indexes(): MiniLM's for
English, the multilingual model's for the other languages), from the same FAQ.

Only entries whose questions changed are re-embedded (vectors are cached per entry, keyed by the
model id and the entry's hash); when nothing changed the build returns before importing torch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from knowledge.build import index_store
from knowledge.build.sources import FaqEntry, FaqError, load_faq
from knowledge.runtime import index as index_files
from knowledge.runtime.encoders import Encoder, load_encoder, model_id
from knowledge.runtime.index import BuildConfig, Manifest
from knowledge.runtime.scoring import Head, ScoringParams, Thresholds

if TYPE_CHECKING:
    from knowledge.runtime.encoders import Vectors

DEFAULT_OOS = Path(__file__).resolve().parents[1] / "out_of_scope.txt"  # knowledge/
DECISION_VERSION = 3  # knowledge.runtime.index.BuildConfig.decision_version
MIN_QUESTIONS_FOR_HEAD = 2  # average paraphrases per entry needed to train the classifier head


@dataclass
class BuildReport:
    """What a build did."""

    changed: bool
    index_dir: str
    n_entries: int
    n_vectors: int
    embedded_entries: int = 0
    embedded_sentences: int = 0
    seconds: float = 0.0
    index_type: str = ""
    thresholds: dict[str, float] = field(default_factory=dict)


def read_oos(path: Path | None) -> list[str]:
    """Out-of-scope example queries, one per line ('#' starts a comment)."""
    if path is None:
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _config(mid: str, params: ScoringParams, oos_texts: Sequence[str]) -> BuildConfig:
    oos_hash = hashlib.sha256("\n".join(oos_texts).encode()).hexdigest()[:16]
    return BuildConfig(format_version=index_files.FORMAT_VERSION, model_id=mid, scoring=params,
                       oos_hash=oos_hash, decision_version=DECISION_VERSION)


def build(
    entries: Sequence[FaqEntry],
    *,
    index_dir: Path,
    model: str,
    oos_texts: Sequence[str] = (),
    cache_dir: Path | None = None,
    encoder: Encoder | Callable[[], Encoder] | None = None,
    params: ScoringParams | None = None,
    progress: bool = True,
    force: bool = False,
    models_dir: Path | None = None,
) -> BuildReport:
    """Build (or leave alone, if up to date) the index for entries; encoder may be a factory;
    models_dir holds ONNX exports of the model (knowledge.build.onnx_export)."""
    started = time.perf_counter()
    params = params or ScoringParams()
    index_dir = Path(index_dir)
    mid = model_id(model)
    config = _config(mid, params, oos_texts)
    hashes = {e.id: e.content_hash() for e in entries}
    n_vectors = sum(len(e.questions) for e in entries)
    old = index_files.read_manifest(index_dir)
    if (
        not force
        and old is not None
        and old.config == config
        and old.entries == hashes
    ):
        return BuildReport(False, str(index_dir), len(entries), n_vectors,
                           index_type=old.index_type)

    cache = (cache_dir or index_dir.with_name(index_dir.name + "-cache")) / _safe(mid)
    loaded: Encoder | None = None

    def get_encoder() -> Encoder:
        nonlocal loaded
        if loaded is None:
            if encoder is None:
                loaded = load_encoder(model, cache_dir=models_dir)
            elif isinstance(encoder, Encoder):
                loaded = encoder
            else:
                loaded = encoder()
        return loaded

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # see Encoder.encode: spinning threads
        return _build(
            entries,
            index_dir,
            model,
            mid,
            config,
            hashes,
            oos_texts,
            get_encoder,
            cache,
            progress,
            started,
            _previous_head(index_dir, old, entries, mid),
        )


def _build(
    entries: Sequence[FaqEntry],
    index_dir: Path,
    model: str,
    mid: str,
    config: BuildConfig,
    hashes: dict[str, str],
    oos_texts: Sequence[str],
    get_encoder: Callable[[], Encoder],
    cache: Path,
    progress: bool,
    started: float,
    init: Head | None,
) -> BuildReport:
    params = config.scoring
    n_vectors = sum(len(e.questions) for e in entries)
    vectors, embedded = _entry_vectors(entries, cache, get_encoder, progress)
    oos_vectors = _cached(
        cache / f"oos-{config.oos_hash}.npy", list(oos_texts), get_encoder, progress
    )
    row_entry = np.concatenate(
        [np.full(len(e.questions), i, dtype=np.int64) for i, e in enumerate(entries)]
    )
    matrix = np.vstack(vectors).astype(np.float32)

    from knowledge.build.calibrate import calibrate
    from knowledge.runtime.scoring import train_head

    use_head = len(entries) >= 2 and n_vectors >= MIN_QUESTIONS_FOR_HEAD * len(entries)
    thresholds, calibration = calibrate(
        matrix, row_entry, len(entries), oos_vectors, params, use_head, init=init
    )
    head = None
    if use_head:
        trained = train_head(matrix, row_entry, len(entries), params.head_c, init=init)
        head = {"weights": trained.weights, "bias": trained.bias}
    index_type = index_store.index_type_for(n_vectors)
    index = index_store.make_faiss_index(matrix, index_type)
    manifest = Manifest(
        format_version=index_files.FORMAT_VERSION,
        build_id=uuid.uuid4().hex,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        model=model,
        model_id=mid,
        dim=int(matrix.shape[1]),
        index_type=index_type,
        n_entries=len(entries),
        n_vectors=n_vectors,
        head=use_head,
        scoring=params,
        thresholds=Thresholds(**thresholds),
        calibration=calibration,
        config=config,
        entries=hashes,
    )
    meta = {
        "entries": [e.model_dump() for e in entries],
        "row_entry": row_entry.tolist(),
        "row_question": [q for e in entries for q in range(len(e.questions))],
    }
    index_store.write_index(index_dir, manifest=manifest, index=index, meta=meta, head=head)
    return BuildReport(
        True,
        str(index_dir),
        len(entries),
        n_vectors,
        embedded_entries=embedded[0],
        embedded_sentences=embedded[1],
        seconds=time.perf_counter() - started,
        index_type=index_type,
        thresholds=thresholds,
    )


def _previous_head(
    index_dir: Path, old: Manifest | None, entries: Sequence[FaqEntry], mid: str
) -> Head | None:
    """The last build's head, to warm-start training when the entries (and order) are the same."""
    if (
        old is None
        or old.model_id != mid
        or list(old.entries) != [e.id for e in entries]
    ):
        return None
    try:
        with np.load(index_dir / index_files.HEAD) as data:
            return Head(data["weights"].astype(np.float32), data["bias"].astype(np.float32))
    except (OSError, KeyError, ValueError):
        return None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name)[-80:]


def _entry_vectors(
    entries: Sequence[FaqEntry], cache: Path, get_encoder: Callable[[], Encoder], progress: bool
) -> tuple[list[Vectors], tuple[int, int]]:
    """Vectors per entry from the cache, embedding (in one batch) only the entries missing."""
    found: dict[int, Vectors] = {}
    missing: list[int] = []
    for i, entry in enumerate(entries):
        path = cache / f"{entry.embed_hash()}.npy"
        try:
            found[i] = np.load(path)
        except (OSError, ValueError):
            missing.append(i)
    sentences = [q for i in missing for q in entries[i].questions]
    if sentences:
        fresh = get_encoder().encode(sentences, progress=progress)
        cache.mkdir(parents=True, exist_ok=True)
        start = 0
        for i in missing:
            n = len(entries[i].questions)
            found[i] = fresh[start : start + n]
            start += n
            _save(cache / f"{entries[i].embed_hash()}.npy", found[i])
    return [found[i] for i in range(len(entries))], (len(missing), len(sentences))


def _cached(
    path: Path, texts: list[str], get_encoder: Callable[[], Encoder], progress: bool
) -> Vectors | None:
    if not texts:
        return None
    try:
        return np.asarray(np.load(path), dtype=np.float32)
    except (OSError, ValueError):
        vectors = get_encoder().encode(texts, progress=progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        _save(path, vectors)
        return vectors


def _save(path: Path, array: Vectors) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp.npy")
    np.save(tmp, array)
    tmp.replace(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m knowledge.build", description=__doc__)
    parser.add_argument("--faq", type=Path, action="append", help="FAQ file or directory")
    parser.add_argument("--index-dir", type=Path, help="where the index goes")
    parser.add_argument("--model", help="sentence-transformers name or path")
    parser.add_argument(
        "--oos", type=Path, default=DEFAULT_OOS, help="out-of-scope examples (one per line)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from relay.settings import get_settings

    settings = get_settings()
    paths = args.faq or settings.faq_paths
    try:
        entries = load_faq(paths)
    except FaqError as exc:
        print(exc, file=sys.stderr)
        return 2
    # Every configured index (English, multilingual) unless one is named on the command line.
    targets = settings.indexes()
    if args.index_dir or args.model:
        targets = [(args.model or settings.embedding_model, args.index_dir or settings.index_dir)]
    for model, index_dir in targets:
        report = build(
            entries,
            index_dir=index_dir,
            model=model,
            oos_texts=read_oos(args.oos),
            progress=not args.quiet,
            force=args.force,
            models_dir=settings.models_dir,
        )
        if not report.changed:
            print(f"index up to date: {report.index_dir} ({report.n_entries} entries)")
        else:
            print(
                f"built {report.index_dir}: {report.n_entries} entries, {report.n_vectors} "
                f"vectors ({report.index_type}), re-embedded {report.embedded_entries} entries / "
                f"{report.embedded_sentences} sentences in {report.seconds:.1f}s; "
                f"thresholds {json.dumps(report.thresholds)}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
