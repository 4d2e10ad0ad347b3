"""The on-disk index: manifest, faiss index, entry metadata and head, written atomically.

Layout of ``index_dir``::

    manifest.json   format version, build id, model id, index type, per-entry content hashes,
                    scoring parameters and decision thresholds
    index.faiss     one normalised vector per paraphrase (inner product = cosine)
    meta.json       entries (id, answer, questions, tags, language) and row -> entry mapping
    head.npz        the classifier head (absent when the FAQ has too few paraphrases)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import faiss

    from knowledge.encoder import Vectors

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
INDEX = "index.faiss"
META = "meta.json"
HEAD = "head.npz"

# Above this many paraphrase vectors an exact scan costs more than HNSW's graph walk; measured
# by `python -m knowledge.bench` (exact IndexFlatIP p95 at 100k vectors on 2 cores exceeds the
# 15 ms budget once encoding is added, HNSW stays ~1 ms), see docs/knowledge.md.
HNSW_THRESHOLD = 50_000
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 128


def ef_search_for(n_vectors: int) -> int:
    """HNSW search breadth: wider for big graphs (1M synthetic: recall@10 0.60 at 128, 0.77 at
    512 for 1.3 ms p50; measured by knowledge.bench, see docs/knowledge.md)."""
    return HNSW_EF_SEARCH if n_vectors <= 200_000 else 4 * HNSW_EF_SEARCH


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    """The manifest of an existing index, or None if there is none (or it is unreadable)."""
    try:
        data = json.loads((index_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def index_type_for(n_vectors: int) -> str:
    """'flat' (exact) for small indexes, 'hnsw' above HNSW_THRESHOLD vectors."""
    return "hnsw" if n_vectors > HNSW_THRESHOLD else "flat"


def make_faiss_index(vectors: Vectors, index_type: str) -> faiss.Index:
    """An inner-product faiss index over normalised vectors."""
    import faiss

    dim = vectors.shape[1]
    index: faiss.Index
    if index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = ef_search_for(len(vectors))
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def write_index(
    index_dir: Path,
    *,
    manifest: dict[str, Any],
    index: faiss.Index,
    meta: dict[str, Any],
    head: dict[str, Any] | None,
) -> None:
    """Write all files to a temporary sibling directory, then swap it in place of index_dir."""
    import faiss

    index_dir = index_dir.resolve()
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.tmp-", dir=index_dir.parent))
    try:
        faiss.write_index(index, str(tmp / INDEX))
        (tmp / META).write_text(json.dumps(meta, ensure_ascii=False))
        if head is not None:
            np.savez(tmp / HEAD, **head)
        # The manifest goes last: a directory with a manifest is complete.
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        swap_in(tmp, index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def swap_in(new: Path, target: Path) -> None:
    """Replace directory target by new with two renames (readers retry the microsecond gap)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(target, old)
    os.rename(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
