"""A numpy implementation of a BERT sentence encoder (mean pooling, normalised): no torch.

Loading torch + sentence-transformers takes 5-10 s on the 2-core target; this loads the same
safetensors weights and the same tokenizer in ~0.5 s, so a one-entry rebuild and the action
server's start-up stay fast. Output matches sentence-transformers to ~1e-6 (checked by tests).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

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


def _erf(x: Array) -> Array:
    """erf by Abramowitz & Stegun 7.1.26 (abs. error < 1.5e-7, below float32 noise here).

    Saves importing scipy.special (a few hundred ms of a 2 s rebuild budget).
    """
    sign = np.sign(x)
    a = np.abs(x)
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.3275911) * a)
    poly = t * (
        np.float32(0.254829592)
        + t
        * (
            np.float32(-0.284496736)
            + t
            * (
                np.float32(1.421413741)
                + t * (np.float32(-1.453152027) + t * np.float32(1.061405429))
            )
        )
    )
    return np.asarray(sign * (np.float32(1.0) - poly * np.exp(-a * a)), dtype=np.float32)


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return np.asarray((x - mean) / np.sqrt(var + eps) * weight + bias, dtype=np.float32)


class BertSentenceEncoder:
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

    def _forward(self, ids: npt.NDArray[np.int64], mask: Array) -> Array:
        raise NotImplementedError

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


class NumpyBert(BertSentenceEncoder):
    """BERT forward pass in numpy float32."""

    def __init__(self, path: Path) -> None:
        from safetensors.numpy import load_file

        super().__init__(path)
        w = load_file(str(path / "model.safetensors"))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""

        def get(name: str) -> Array:
            return np.ascontiguousarray(w[prefix + name], dtype=np.float32)

        self.word = get("embeddings.word_embeddings.weight")
        self.pos = get("embeddings.position_embeddings.weight")
        self.type0 = get("embeddings.token_type_embeddings.weight")[0]
        self.emb_ln = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        self.blocks: list[dict[str, Array]] = []
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate(
                [get(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")]
            )
            qkv_b = np.concatenate(
                [get(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")]
            )
            self.blocks.append(
                {
                    "qkv_w": np.ascontiguousarray(qkv_w.T),
                    "qkv_b": qkv_b,
                    "o_w": np.ascontiguousarray(get(p + "attention.output.dense.weight").T),
                    "o_b": get(p + "attention.output.dense.bias"),
                    "ln1_w": get(p + "attention.output.LayerNorm.weight"),
                    "ln1_b": get(p + "attention.output.LayerNorm.bias"),
                    "i_w": np.ascontiguousarray(get(p + "intermediate.dense.weight").T),
                    "i_b": get(p + "intermediate.dense.bias"),
                    "out_w": np.ascontiguousarray(get(p + "output.dense.weight").T),
                    "out_b": get(p + "output.dense.bias"),
                    "ln2_w": get(p + "output.LayerNorm.weight"),
                    "ln2_b": get(p + "output.LayerNorm.bias"),
                }
            )

    def _forward(self, ids: npt.NDArray[np.int64], mask: Array) -> Array:
        batch, length = ids.shape
        heads, dh = self.heads, self.dim // self.heads
        x = self.word[ids] + self.pos[:length] + self.type0
        x = _layer_norm(x, *self.emb_ln, self.eps)
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(dh))
        for b in self.blocks:
            qkv = x @ b["qkv_w"] + b["qkv_b"]
            qkv = qkv.reshape(batch, length, 3, heads, dh).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.dim)
            x = _layer_norm(x + ctx @ b["o_w"] + b["o_b"], b["ln1_w"], b["ln1_b"], self.eps)
            h = x @ b["i_w"] + b["i_b"]
            h = np.asarray(
                h * (np.float32(1.0) + _erf(h * np.float32(0.7071067811865476))) / 2,
                dtype=np.float32,
            )
            out = np.asarray(h @ b["out_w"] + b["out_b"], dtype=np.float32)
            x = _layer_norm(x + out, b["ln2_w"], b["ln2_b"], self.eps)
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)
