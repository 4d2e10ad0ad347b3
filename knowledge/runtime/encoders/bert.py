"""BERT + mean-pooling sentence encoders run in this process (ONNX Runtime or numpy, no torch).

The packaged all-MiniLM-L6-v2 (and any model tuned from it) is such a model. BertNetwork holds
what both runtimes share (the model's own fast tokenizer, length-bucketed batching); BertEncoder
is the Encoder around a network, with one BLAS thread per call.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from knowledge.runtime.encoders.base import Encoder, Vectors, model_id

Array = npt.NDArray[np.float32]


def supports(path: Path) -> bool:
    """Whether path is a BERT + mean pooling (+ normalise) sentence-transformers directory."""
    try:
        config = json.loads((path / "config.json").read_text())
        modules = json.loads((path / "modules.json").read_text())
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return False
    types = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    return (
        config.get("model_type") == "bert"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and types[:2] == ["Transformer", "Pooling"]
        and set(types[2:]) <= {"Normalize"}
        and (pooling.get("pooling_mode") == "mean" or _old_style_mean(pooling))
        and (path / "model.safetensors").exists()
        and (path / "tokenizer.json").exists()
    )


def _old_style_mean(pooling: dict[str, Any]) -> bool:
    """sentence-transformers < 6 pooling config (one flag per mode) that says mean only."""
    return bool(pooling.get("pooling_mode_mean_tokens")) and not any(
        pooling.get(k)
        for k in (
            "pooling_mode_cls_token",
            "pooling_mode_max_tokens",
            "pooling_mode_mean_sqrt_len_tokens",
        )
    )


class BertNetwork:
    """The model's own fast tokenizer and length-bucketed batching; subclasses run the network.

    _forward(ids, mask) takes (batch, length) token ids and a float32 0/1 mask and returns the
    L2-normalised mean-pooled embeddings (batch, dim).
    """

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text())
        st_config: dict[str, Any] = {}
        if (path / "sentence_bert_config.json").exists():
            st_config = json.loads((path / "sentence_bert_config.json").read_text())
        self.max_len = int(st_config.get("max_seq_length", 256))
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.dim = int(config["hidden_size"])
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_len)

    @abstractmethod
    def _forward(self, ids: npt.NDArray[np.int64], mask: Array) -> Array:
        """L2-normalised mean-pooled embeddings (batch, dim) of token ids and a 0/1 mask."""

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> Array:
        """L2-normalised mean-pooled embeddings, batches of similar length (less padding)."""
        encodings = self.tokenizer.encode_batch(list(texts))
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(order), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="embedding", unit="batch")
        for start in starts:
            chunk = order[start : start + batch_size]
            length = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1.0
            out[chunk] = self._forward(ids, mask)
        return out




class BertEncoder(Encoder):
    """An Encoder running a BertNetwork; subclasses say which network and when it can run."""

    backend_name = ""

    def __init__(self, name_or_path: str, *, cache_dir: Path | None = None) -> None:
        reason = self.unavailable(name_or_path, cache_dir)
        if reason is not None:
            raise ValueError(reason)
        from threadpoolctl import ThreadpoolController

        mid = model_id(name_or_path)
        self._network = self._load(Path(name_or_path), mid, cache_dir)
        self._threads = ThreadpoolController()
        super().__init__(id=mid, dim=self._network.dim, backend=self.backend_name)

    @classmethod
    def unavailable(cls, name_or_path: str, cache_dir: Path | None) -> str | None:
        """None for a BERT mean-pooling sentence-transformers directory."""
        if Path(name_or_path).is_dir() and supports(Path(name_or_path)):
            return None
        return f"{name_or_path} is not a BERT mean-pooling sentence-transformers dir"

    @abstractmethod
    def _load(self, path: Path, mid: str, cache_dir: Path | None) -> BertNetwork:
        """The network that runs the model at path."""

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> Vectors:
        """Embed texts as L2-normalised rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # One BLAS thread: OpenBLAS threads spin-wait, and on a busy 2-core machine two of
        # them made batches 10-50x slower (measured); one thread is never much worse.
        with self._threads.limit(limits=1, user_api="blas"):
            return self._network.encode(texts, batch_size=batch_size, progress=progress)
