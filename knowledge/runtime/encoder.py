"""The sentence encoder: a model id that is cheap to compute, and lazy loading of the model.

BERT + mean-pooling models (the packaged all-MiniLM-L6-v2) run on ONNX Runtime when an export
of the model is in the models cache (``knowledge.runtime.onnx_bert``), else on the numpy
implementation in ``knowledge.runtime.minilm``; both load in well under a second without torch
and give the same vectors.
Any other model goes through sentence-transformers on CPU.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]

# Small model files whose contents identify a model directory (weights are identified by size:
# hashing 90 MB on every no-op build would cost more than the build budget).
# relay_tune.json (knowledge.tools.tune) carries a fresh tune_id each time a model is tuned in
# place.
_ID_FILES = (
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "tokenizer.json",
    "relay_tune.json",
)


def hub_offline() -> None:
    """Before importing transformers / sentence-transformers: models are local files here, so
    never reach for the Hugging Face hub (no internet in production), and no tokenizer threads."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def model_id(name_or_path: str) -> str:
    """A stable id for a model: its name, or for a directory a hash of config and weight sizes."""
    path = Path(name_or_path)
    if not path.is_dir():
        return name_or_path
    digest = hashlib.sha256()
    for name in _ID_FILES:
        file = path / name
        if file.exists():
            digest.update(name.encode() + file.read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    label = path.parent.name if path.name == "model" else path.name
    return f"{label}@{digest.hexdigest()[:12]}"


class Encoder:
    """A sentence encoder producing L2-normalised float32 vectors."""

    def __init__(
        self, name_or_path: str, *, backend: str = "auto", cache_dir: Path | None = None
    ) -> None:
        """backend: auto (onnx if exported to cache_dir, else numpy, else sentence-transformers),
        onnx, numpy or sentence-transformers."""
        from threadpoolctl import ThreadpoolController

        from knowledge.runtime import minilm, onnx_bert

        self.id = model_id(name_or_path)
        self._threads = ThreadpoolController()
        self._bert: minilm.BertSentenceEncoder | None = None
        self._st: Any = None
        path = Path(name_or_path)
        bert = path.is_dir() and minilm.supports(path)
        exported = onnx_bert.export_path(cache_dir, self.id) if cache_dir else None
        if backend in ("auto", "onnx") and bert and exported and exported.exists():
            self._bert = onnx_bert.OnnxBert(path, exported)
            self.dim = self._bert.dim
            self.backend = "onnx"
        elif backend == "onnx":
            raise ValueError(
                f"no ONNX export of {name_or_path} in {cache_dir}: "
                "run `python -m knowledge.runtime.onnx_bert`"
            )
        elif backend in ("auto", "numpy") and bert:
            self._bert = minilm.NumpyBert(path)
            self.dim = self._bert.dim
            self.backend = "numpy"
        elif backend == "numpy":
            raise ValueError(f"{name_or_path} is not a BERT mean-pooling sentence-transformers dir")
        else:
            hub_offline()
            from sentence_transformers import SentenceTransformer

            self._st = SentenceTransformer(name_or_path, device="cpu")
            get_dim = getattr(self._st, "get_embedding_dimension", None) or (
                self._st.get_sentence_embedding_dimension
            )
            dim: Any = get_dim()
            self.dim = int(dim)
            self.backend = "sentence-transformers"

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> Vectors:
        """Embed texts as L2-normalised rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._bert is not None:
            # One BLAS thread: OpenBLAS threads spin-wait, and on a busy 2-core machine two of
            # them made batches 10-50x slower (measured); one thread is never much worse.
            with self._threads.limit(limits=1, user_api="blas"):
                return self._bert.encode(texts, batch_size=batch_size, progress=progress)
        vectors = self._st.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> Vectors:
        """Embed one query (shape (1, dim)); the latency path."""
        return self.encode([text], batch_size=1)
