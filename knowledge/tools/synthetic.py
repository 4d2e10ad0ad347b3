"""Synthetic indexes for the scale part of the benchmark (cached on disk: building is slow)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from knowledge.build import index_store
from knowledge.runtime.encoders import Vectors

DIM = 384


def clustered_vectors(n: int, *, dim: int = DIM, seed: int = 0) -> Vectors:
    """n unit vectors shaped like an FAQ index: topics > entries > ~10 paraphrases each; seeded.

    Uniform random vectors (or isolated random clusters) have no neighbourhood structure in 384
    dimensions: a graph index cannot navigate them (measured: HNSW recall@10 of 6% at 1M on
    isolated clusters), while real sentence embeddings are organised by topic. So: one topic per
    ~1,000 vectors, entries around topics, paraphrases around entries.
    """
    rng = np.random.default_rng(seed)

    def around(centers: Vectors, count: int, spread: float) -> Vectors:
        picked = centers[rng.integers(0, len(centers), count)]
        noise = rng.standard_normal((count, dim), dtype=np.float32) * np.float32(
            spread / np.sqrt(dim)
        )
        out = picked + noise
        return np.asarray(out / np.linalg.norm(out, axis=1, keepdims=True), dtype=np.float32)

    topics = around(np.zeros((1, dim), dtype=np.float32), max(1, n // 1000), 1.0)
    entries = around(topics, max(1, n // 10), 0.8)
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):  # in chunks: 1M x 384 temporaries would double the memory
        m = min(step, n - start)
        out[start : start + m] = around(entries, m, 0.6)
    return out


def queries_near(vectors: Vectors, n: int, *, seed: int = 1) -> Vectors:
    """Queries that are perturbed database vectors (a new paraphrase of a stored question)."""
    rng = np.random.default_rng(seed)
    picked = vectors[rng.integers(0, len(vectors), n)]
    noisy = picked + rng.standard_normal(picked.shape, dtype=np.float32) * np.float32(
        0.5 / np.sqrt(DIM)
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
