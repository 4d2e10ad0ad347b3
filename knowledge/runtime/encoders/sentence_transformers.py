"""Any other sentence-transformers model, on torch (slow to load: 5-10 s on the 2-core target)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.runtime.encoders.base import Encoder, Vectors, hub_offline, model_id


class SentenceTransformersEncoder(Encoder):
    """A sentence-transformers model on CPU (backend "sentence-transformers"); runs anything."""

    def __init__(self, name_or_path: str, *, cache_dir: Path | None = None) -> None:
        hub_offline()
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(name_or_path, device="cpu")
        get_dim = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        dim: Any = get_dim()
        super().__init__(id=model_id(name_or_path), dim=int(dim), backend="sentence-transformers")

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> Vectors:
        """Embed texts as L2-normalised rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
