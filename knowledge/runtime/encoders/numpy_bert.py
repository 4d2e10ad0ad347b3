"""BERT in numpy float32: the same safetensors weights and tokenizer, no torch.

Loading torch + sentence-transformers takes 5-10 s on the 2-core target; this loads the same
weights in ~0.5 s, so a one-entry rebuild and the action server's start-up stay fast. Output
matches sentence-transformers to ~1e-6 (checked by tests). The fallback when there is no ONNX
export of the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from knowledge.runtime.encoders.bert import Array, BertEncoder, BertNetwork


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


class NumpyBert(BertNetwork):
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


class NumpyBertEncoder(BertEncoder):
    """The numpy BERT as an Encoder (backend "numpy")."""

    backend_name = "numpy"

    def _load(self, path: Path, mid: str, cache_dir: Path | None) -> BertNetwork:
        return NumpyBert(path)
