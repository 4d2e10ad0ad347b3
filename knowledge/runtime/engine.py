"""The FAQ search engine the action server uses: load once, search, decide, hot-reload.

engine = FaqEngine.from_settings(get_settings())      # at start-up, never at import
decision = engine.decide("how much is pro?")           # answer / clarify / decline
engine.reload_if_changed()                             # cheap: one stat() of the manifest
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import ValidationError

from knowledge.runtime import index as index_files
from knowledge.runtime.index import Manifest
from knowledge.runtime.scoring import (
    Head,
    ScoringParams,
    Thresholds,
    combine,
    entry_similarity,
    sharpen,
)
from knowledge.runtime.spelling import Speller

if TYPE_CHECKING:
    import faiss

    from knowledge.runtime.encoders import Encoder, Vectors
    from relay.settings import Settings

log = logging.getLogger(__name__)
ENCODE_CACHE = 2048  # recent query vectors kept (384 floats each: ~3 MB)


class IndexMissing(RuntimeError):
    """No usable index in index_dir; build it with `python -m knowledge.build`."""


@dataclass(frozen=True)
class Hit:
    """One FAQ entry found for a query; score is the calibrated probability it is the right one.

    similarity is the best cosine between the query and the entry's paraphrases (None when not
    known, e.g. a hit made by hand); the decline decision uses the top hit's. answer is in
    `language`; answers holds the entry's translations of it.
    """

    entry_id: str
    answer: str
    matched_question: str
    score: float
    tags: tuple[str, ...] = ()
    similarity: float | None = None
    language: str = "en"
    answers: dict[str, str] = field(default_factory=dict)

    def answer_in(self, language: str) -> tuple[str, str]:
        """The answer in that language if the entry has it, else its own: (text, language)."""
        if language != self.language and language in self.answers:
            return self.answers[language], language
        return self.answer, self.language


@dataclass(frozen=True)
class Decision:
    """What the bot should do: answer hits[0], ask which of hits[:2] was meant, or decline."""

    kind: Literal["answer", "clarify", "decline"]
    hits: list[Hit] = field(default_factory=list)

    @property
    def top(self) -> Hit | None:
        """The best hit, if any."""
        return self.hits[0] if self.hits else None


@dataclass(frozen=True)
class _State:
    """Everything loaded from one index build; swapped as a whole on reload."""

    index: faiss.Index
    entries: list[dict[str, Any]]
    row_entry: np.ndarray
    row_question: np.ndarray
    head: Head | None
    params: ScoringParams
    thresholds: Thresholds
    manifest: Manifest
    stamp: tuple[int, int, int]
    speller: Speller | None


def _sureness(decision: Decision) -> float:
    return decision.hits[0].score if decision.hits else 0.0


def _stamp(index_dir: Path) -> tuple[int, int, int]:
    st = os.stat(index_dir / index_files.MANIFEST)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _manifest(index_dir: Path) -> Manifest:
    """The index's manifest; IndexMissing (how to rebuild) if it is of another format."""
    raw = json.loads((index_dir / index_files.MANIFEST).read_text())
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if version != index_files.FORMAT_VERSION:
        raise IndexMissing(
            f"{index_dir} has index format {version}, expected "
            f"{index_files.FORMAT_VERSION}: rebuild with `python -m knowledge.build`"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as error:
        raise IndexMissing(
            f"{index_dir / index_files.MANIFEST} is not a complete manifest "
            f"({error.error_count()} field{'s' if error.error_count() != 1 else ''} missing or "
            "wrong): rebuild with `python -m knowledge.build`"
        ) from None


def _load_state(index_dir: Path, correct_spelling: bool = True) -> _State:
    import faiss

    # Queries come one at a time: OpenMP threads only add spin-waiting on a busy 2-core box
    # (10k exact search: p95 20 ms with 2 threads under load, see docs/knowledge.md).
    faiss.omp_set_num_threads(1)

    for attempt in range(3):  # a rebuild swaps the directory with two renames; retry the gap
        try:
            stamp = _stamp(index_dir)
            manifest = _manifest(index_dir)
            meta = json.loads((index_dir / index_files.META).read_text())
            index = faiss.read_index(str(index_dir / index_files.INDEX))
            head = None
            if manifest.head:
                with np.load(index_dir / index_files.HEAD) as data:
                    head = Head(data["weights"].astype(np.float32), data["bias"].astype(np.float32))
            break
        except FileNotFoundError as exc:
            if attempt == 2:
                raise IndexMissing(
                    f"no FAQ index in {index_dir} ({exc.filename} missing): "
                    "build it with `python -m knowledge.build`"
                ) from None
            time.sleep(0.05)
    index_files.configure_search(index)
    return _State(
        index=index,
        entries=meta["entries"],
        row_entry=np.asarray(meta["row_entry"], dtype=np.int64),
        row_question=np.asarray(meta["row_question"], dtype=np.int64),
        head=head,
        params=manifest.scoring,
        thresholds=manifest.thresholds,
        manifest=manifest,
        stamp=stamp,
        speller=Speller.from_texts(
            text for entry in meta["entries"] for text in (*entry["questions"], entry["answer"])
        ) if correct_spelling else None,
    )


def _hit(entry: dict[str, Any], question: str, score: float, similarity: float | None) -> Hit:
    """A Hit for an entry of meta.json (indexes built before translations have no answers)."""
    return Hit(entry_id=entry["id"], answer=entry["answer"], matched_question=question,
               score=score, tags=tuple(entry.get("tags", ())), similarity=similarity,
               language=entry.get("language", "en"), answers=dict(entry.get("answers") or {}))


class FaqEngine:
    """Semantic FAQ search over a built index; safe to share between threads."""

    def __init__(self, index_dir: Path, encoder: Encoder, *, correct_spelling: bool = True) -> None:
        """correct_spelling: English typo correction before searching (knowledge.runtime.spelling);
        off for the multilingual index, whose queries are not English."""
        self.index_dir = Path(index_dir)
        self.encoder = encoder
        self.correct_spelling = correct_spelling
        # A conversation's topic is encoded again with each follow-up (knowledge.runtime.context);
        # recent texts are kept so that costs one encode per turn, not two. Read-only arrays.
        self._encode = lru_cache(maxsize=ENCODE_CACHE)(self._encode_readonly)
        self._lock = threading.Lock()
        self._rejected: tuple[int, int, int] | None = None  # a build we failed to load
        self._state = _load_state(self.index_dir, correct_spelling)
        self._check_model(self._state)

    @classmethod
    def load(
        cls,
        index_dir: Path,
        model: str | Encoder | None = None,
        models_dir: Path | None = None,
        *,
        correct_spelling: bool = True,
    ) -> FaqEngine:
        """Load the index in index_dir and its encoder (the manifest's model unless given);
        models_dir holds ONNX exports (knowledge.build.onnx_export)."""
        from knowledge.runtime.encoders import load_encoder

        index_dir = Path(index_dir)
        if model is None or isinstance(model, str):
            name = model or _load_state(index_dir).manifest.model
            encoder = load_encoder(name, cache_dir=models_dir)
        else:
            encoder = model
        return cls(index_dir, encoder, correct_spelling=correct_spelling)

    @classmethod
    def from_settings(cls, settings: Settings) -> FaqEngine:
        """The engine for settings.index_dir with settings.embedding_model."""
        return cls.load(settings.index_dir, settings.embedding_model, settings.models_dir)

    @property
    def manifest(self) -> Manifest:
        """The manifest of the index currently served."""
        return self._state.manifest

    def _check_model(self, state: _State) -> None:
        if state.manifest.model_id != self.encoder.id:
            raise IndexMissing(
                f"{self.index_dir} was built with {state.manifest.model_id} but the engine "
                f"encodes with {self.encoder.id}: rebuild with `python -m knowledge.build`"
            )

    def _encode_readonly(self, query: str) -> Vectors:
        vector = self.encoder.encode_one(query)
        vector.setflags(write=False)
        return vector

    def encode(self, query: str) -> Vectors:
        """The query's vector (1, dim); recent queries come from a cache (do not modify it)."""
        return self._encode(query)

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The k best entries for a query, best first, scores calibrated to [0, 1]."""
        return self.search_vector(self.encode(query), k)

    def search_vector(self, vector: Vectors, k: int = 5) -> list[Hit]:
        """Like search, for an already encoded query."""
        state = self._state  # one read: a concurrent reload swaps the whole state
        n_entries = len(state.entries)
        if n_entries == 0:
            return []
        n_rows = state.index.ntotal
        depth = min(n_rows, max(64, 8 * k))
        sims, rows = state.index.search(np.ascontiguousarray(vector, dtype=np.float32), depth)
        knn, best_row = entry_similarity(sims, rows.astype(np.int64), state.row_entry, n_entries)
        logits = state.head.logits(vector) if state.head is not None else None
        probs = sharpen(combine(knn, logits, state.params), state.thresholds.temperature)[0]
        k = min(k, n_entries)
        top = np.argpartition(-probs, k - 1)[:k] if k < n_entries else np.arange(n_entries)
        top = top[np.argsort(-probs[top])]
        hits = []
        for e in top:
            entry = state.entries[int(e)]
            row = int(best_row[0, e])
            question = entry["questions"][int(state.row_question[row])] if row >= 0 else ""
            hits.append(_hit(entry, question or entry["questions"][0],
                             float(np.clip(probs[e], 0.0, 1.0)), float(knn[0, e])))
        return hits

    def entry(self, entry_id: str) -> Hit | None:
        """The entry with that id as a full-score hit (a "did you mean" choice), or None."""
        for entry in self._state.entries:
            if entry["id"] == entry_id:
                return _hit(entry, entry["questions"][0], 1.0, None)
        return None

    def corrected(self, query: str) -> str:
        """The query with its typos corrected towards the FAQ's vocabulary (runtime.spelling)."""
        speller = self._state.speller
        return query if speller is None else speller.correct(query)

    def decide(self, query: str) -> Decision:
        """Answer, clarify between the top two, or decline, by the manifest's thresholds.

        A query with typos is searched as typed and as corrected; the surer result wins.
        """
        decision = self.decide_hits(self.search(query, k=5))
        fixed = self.corrected(query)
        if fixed == query:
            return decision
        other = self.decide_hits(self.search(fixed, k=5))
        return other if _sureness(other) > _sureness(decision) else decision

    def decide_hits(self, hits: list[Hit]) -> Decision:
        """The decision for hits already found (best first)."""
        if not hits:
            return Decision("decline", [])
        p1 = hits[0].score
        p2 = hits[1].score if len(hits) > 1 else 0.0
        kind = self._state.thresholds.kind(p1, p2, hits[0].similarity)
        if kind == "clarify":
            return Decision("clarify", hits[:2])
        return Decision(kind, hits)  # type: ignore[arg-type]

    def reload_if_changed(self) -> bool:
        """Reload if the index on disk was rebuilt (one stat() when it was not); thread-safe."""
        try:
            stamp = _stamp(self.index_dir)
        except OSError:
            return False  # mid-swap or removed: keep serving what we have
        if stamp in (self._state.stamp, self._rejected):
            return False
        with self._lock:
            if stamp in (self._state.stamp, self._rejected):
                return False
            try:
                state = _load_state(self.index_dir, self.correct_spelling)
                self._check_model(state)
            except (IndexMissing, OSError, ValueError, KeyError) as exc:
                log.warning("FAQ index in %s not reloaded: %s", self.index_dir, exc)
                self._rejected = stamp  # don't retry the same broken build on every request
                return False
            if state.manifest.build_id == self._state.manifest.build_id:
                self._state = state
                return False
            self._state = state
            log.info("FAQ index reloaded: build %s", state.manifest.build_id)
            return True
