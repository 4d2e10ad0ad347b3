"""The on-disk index: manifest, faiss index, entry metadata and head, written atomically.

Layout of ``index_dir``::

    manifest.json   format version, build id, model id, index type, per-entry content hashes,
                    scoring parameters and decision thresholds
    index.faiss     one normalised vector per paraphrase (inner product = cosine)
    meta.json       entries (id, answer, questions, tags, language) and row -> entry mapping
    head.npz        the classifier head (absent when the FAQ has too few paraphrases)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
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

# Above this many paraphrase vectors an exact scan starts to eat a visible share of the 15 ms
# query budget (IndexFlatIP: 0.64 ms p50 at 10k, 6.75 ms at 100k on 2 cores), so the index turns
# approximate: IVF (inverted lists over k-means cells). Measured by `python -m knowledge.bench`
# on the synthetic indexes (docs/knowledge.md): at 1M vectors, IVF with 2*sqrt(n) lists and
# nprobe 32 found 100% of the exact top 10, where HNSW (M=16, efConstruction=40, efSearch=512)
# found 77%, and it builds in about a minute instead of four.
APPROX_THRESHOLD = 50_000
IVF_NPROBE = 32
IVF_TRAIN_PER_LIST = 64  # k-means training sample: this many vectors per list (faiss's advice)
# HNSW is kept for indexes built before IVF and for the benchmark's comparison.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 128


def ef_search_for(n_vectors: int) -> int:
    """HNSW search breadth: wider for big graphs (1M synthetic: recall@10 0.60 at 128, 0.77 at
    512 for 1.3 ms p50; measured by knowledge.bench, see docs/knowledge.md)."""
    return HNSW_EF_SEARCH if n_vectors <= 200_000 else 4 * HNSW_EF_SEARCH


def ivf_lists_for(n_vectors: int) -> int:
    """Number of IVF lists (k-means cells): 2 * sqrt(n), at least 64."""
    return max(64, int(2 * n_vectors**0.5))


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


def index_type_for(n_vectors: int) -> str:
    """'flat' (exact) for small indexes, 'ivf' above APPROX_THRESHOLD vectors."""
    return "ivf" if n_vectors > APPROX_THRESHOLD else "flat"


def make_faiss_index(vectors: Vectors, index_type: str) -> faiss.Index:
    """An inner-product faiss index over normalised vectors."""
    import faiss

    dim = vectors.shape[1]
    index: faiss.Index
    if index_type == "ivf":
        lists = ivf_lists_for(len(vectors))
        index = faiss.index_factory(dim, f"IVF{lists},Flat", faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)  # the same FAQ gives the same cells
        take = min(len(vectors), IVF_TRAIN_PER_LIST * lists)
        sample = vectors[np.sort(rng.choice(len(vectors), take, replace=False))]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        configure_search(index)
    elif index_type == "hnsw":
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

    with replaced_dir(index_dir) as tmp:
        faiss.write_index(index, str(tmp / INDEX))
        (tmp / META).write_text(json.dumps(meta, ensure_ascii=False))
        if head is not None:
            np.savez(tmp / HEAD, **head)
        # The manifest goes last: a directory with a manifest is complete.
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))


@contextlib.contextmanager
def replaced_dir(target: Path) -> Iterator[Path]:
    """A temporary sibling directory to fill; swapped in place of target when the block ends
    without error (swap_in), removed if it raises."""
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        swap_in(tmp, target)
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
