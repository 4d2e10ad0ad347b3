"""Writing the on-disk index (knowledge.runtime.index): faiss index type, files, atomic swap.

The new index is written into a sibling directory and swapped in with two renames, the
manifest last, so a reader (the engine's hot reload) sees the old index or the new one.
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

from knowledge.runtime.index import (
    HEAD,
    INDEX,
    MANIFEST,
    META,
    Manifest,
    configure_search,
    ef_search_for,
)

if TYPE_CHECKING:
    import faiss

    from knowledge.runtime.encoders import Vectors

# Above this many paraphrase vectors an exact scan starts to eat a visible share of the 15 ms
# query budget (IndexFlatIP: 0.64 ms p50 at 10k, 6.75 ms at 100k on 2 cores), so the index turns
# approximate: IVF (inverted lists over k-means cells). Measured by knowledge.tools.bench
# on the synthetic indexes (docs/knowledge.md): at 1M vectors, IVF with 2*sqrt(n) lists and
# nprobe 32 found 100% of the exact top 10, where HNSW (M=16, efConstruction=40, efSearch=512)
# found 77%, and it builds in about a minute instead of four.
APPROX_THRESHOLD = 50_000
IVF_TRAIN_PER_LIST = 64  # k-means training sample: this many vectors per list (faiss's advice)
# HNSW is kept for indexes built before IVF and for the benchmark's comparison.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 40


def ivf_lists_for(n_vectors: int) -> int:
    """Number of IVF lists (k-means cells): 2 * sqrt(n), at least 64."""
    return max(64, int(2 * n_vectors**0.5))


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
    manifest: Manifest,
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
        (tmp / MANIFEST).write_text(manifest.to_json())


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
