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


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    """The manifest of an existing index, or None if there is none (or it is unreadable)."""
    try:
        data = json.loads((index_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
