"""The sentence encoder: resolving a model name to an id, and loading it lazily (torch is heavy)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from collections.abc import Sequence

Vectors = npt.NDArray[np.float32]

# Small model files whose contents identify a model directory (weights are identified by size:
# hashing 90 MB on every no-op build would cost more than the build budget).
_ID_FILES = ("config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json")


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
    """A sentence-transformers model on CPU producing L2-normalised float32 vectors."""

    def __init__(self, name_or_path: str, *, threads: int | None = None) -> None:
        # The model is packaged; never reach for the hub (there is no internet in production).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads is not None:
            torch.set_num_threads(threads)
        self._torch: Any = torch
        self.model: Any = SentenceTransformer(name_or_path, device="cpu")
        self.id = model_id(name_or_path)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        dim: Any = get_dim()
        self.dim = int(dim)

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> Vectors:
        """Embed texts as L2-normalised rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._torch.inference_mode():
            vectors = self.model.encode(
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
