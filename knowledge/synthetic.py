"""Synthetic indexes for the scale part of the benchmark (cached on disk: building is slow)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from knowledge import index_store
from knowledge.encoder import Vectors

DIM = 384


def clustered_vectors(n: int, *, dim: int = DIM, seed: int = 0) -> Vectors:
    """n unit vectors in clusters of ~10 (like paraphrases of one entry), seeded, float32.

    Purely uniform random vectors have no near neighbours at all in 384 dimensions, which makes
    ANN recall meaningless; clusters of ten keep the geometry of an FAQ index.
    """
    rng = np.random.default_rng(seed)
    n_clusters = max(1, n // 10)
    centers = rng.standard_normal((n_clusters, dim), dtype=np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):  # in chunks: 1M x 384 temporaries would double the memory
        m = min(step, n - start)
        noise = rng.standard_normal((m, dim), dtype=np.float32) * np.float32(1.05 / np.sqrt(dim))
        chunk = centers[rng.integers(0, n_clusters, m)] + noise
        out[start : start + m] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def queries_near(vectors: Vectors, n: int, *, seed: int = 1) -> Vectors:
    """Queries that are perturbed database vectors (a paraphrase of a stored question)."""
    rng = np.random.default_rng(seed)
    picked = vectors[rng.integers(0, len(vectors), n)]
    noisy = picked + rng.standard_normal(picked.shape, dtype=np.float32) * np.float32(
        0.6 / np.sqrt(DIM)
    )
    return np.asarray(noisy / np.linalg.norm(noisy, axis=1, keepdims=True), dtype=np.float32)


def cached_index(vectors: Vectors, index_type: str, path: Path) -> tuple[object, float]:
    """The faiss index of vectors (built, or read from path) and its build seconds (0: cached)."""
    import faiss

    if path.exists():
        index = faiss.read_index(str(path))
        if index.ntotal == len(vectors):
            return index, 0.0
    started = time.perf_counter()
    index = index_store.make_faiss_index(vectors, index_type)
    seconds = time.perf_counter() - started
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    faiss.write_index(index, str(tmp))
    tmp.replace(path)
    return index, seconds
