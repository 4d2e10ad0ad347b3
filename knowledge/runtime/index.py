"""The on-disk index as the engine reads it: its files, format version and search settings.

Layout of ``index_dir`` (written by knowledge.build.index_store)::

    manifest.json   format version, build id, model id, index type, per-entry content hashes,
                    scoring parameters and decision thresholds
    index.faiss     one normalised vector per paraphrase (inner product = cosine)
    meta.json       entries (id, answer, questions, tags, language) and row -> entry mapping
    head.npz        the classifier head (absent when the FAQ has too few paraphrases)
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from knowledge.runtime.scoring import ScoringParams, Thresholds

if TYPE_CHECKING:
    import faiss

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
INDEX = "index.faiss"
META = "meta.json"
HEAD = "head.npz"

# Search breadth of approximate indexes (why these values: knowledge.build.index_store).
IVF_NPROBE = 32
HNSW_EF_SEARCH = 128


def ef_search_for(n_vectors: int) -> int:
    """HNSW search breadth: wider for big graphs (1M synthetic: recall@10 0.60 at 128, 0.77 at
    512 for 1.3 ms p50; measured by knowledge.tools.bench, see docs/knowledge.md)."""
    return HNSW_EF_SEARCH if n_vectors <= 200_000 else 4 * HNSW_EF_SEARCH


def configure_search(index: faiss.Index) -> None:
    """Set the search-time breadth of an approximate index (not stored in every faiss version)."""
    import faiss

    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = ef_search_for(index.ntotal)
        return
    with contextlib.suppress(RuntimeError):  # raised for exact indexes: nothing to set
        faiss.extract_index_ivf(index).nprobe = IVF_NPROBE


class BuildConfig(BaseModel):
    """What an index depends on besides its entries: when it changes, the build starts over."""

    model_config = ConfigDict(frozen=True)

    format_version: int
    model_id: str
    scoring: ScoringParams
    oos_hash: str  # of the out-of-scope examples the thresholds were calibrated with
    # 2: the decision also weighs the top entry's cosine (Thresholds.cos_weight); 3: scores are
    # temperature-scaled (Thresholds.temperature). Bumping it makes older indexes rebuild.
    decision_version: int


class Manifest(BaseModel):
    """manifest.json: what an index was built from, and how the engine must score with it."""

    model_config = ConfigDict(frozen=True)

    format_version: int
    build_id: str  # new for every build: the engine's hot reload compares it
    built_at: str
    model: str  # the model's name or path, as given to the build
    model_id: str  # which vectors (knowledge.runtime.encoders.model_id): the engine checks it
    dim: int
    index_type: str  # flat, ivf or hnsw
    n_entries: int
    n_vectors: int
    head: bool  # whether head.npz holds a classifier head
    scoring: ScoringParams
    thresholds: Thresholds
    calibration: dict[str, Any] = Field(default_factory=dict)  # how thresholds were chosen
    config: BuildConfig
    entries: dict[str, str]  # entry id -> content hash, in index order

    def to_json(self) -> str:
        """The manifest as written to manifest.json."""
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False)


def read_manifest(index_dir: Path) -> Manifest | None:
    """The manifest of an existing index, or None if there is none (or it is unreadable or not
    a manifest of this format)."""
    try:
        return Manifest.model_validate_json((index_dir / MANIFEST).read_bytes())
    except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
        return None
