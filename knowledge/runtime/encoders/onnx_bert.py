"""BERT on ONNX Runtime: the network and vectors of the numpy encoder, ~2x faster per query.

The model must have been exported once (knowledge.build.onnx_export, part of `make
build-index`) to ``<models_dir>/<model id>/model.onnx``; the export is checked against the
numpy forward pass, so its vectors are those of the model id. Why: one short query through
MiniLM is ~160 M multiply-adds; numpy pays for every op separately (~10 ms on one core here),
ONNX Runtime fuses layer norm, GELU and attention and runs the same float32 arithmetic in ~5 ms
(table in docs/knowledge.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from knowledge.runtime.encoders.base import model_id
from knowledge.runtime.encoders.bert import Array, BertEncoder, BertNetwork

ONNX_FILE = "model.onnx"


def export_path(cache_dir: Path, model_id: str) -> Path:
    """Where the export of model_id lives under cache_dir."""
    safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in model_id)
    return Path(cache_dir) / safe / ONNX_FILE


class OnnxBert(BertNetwork):
    """BERT sentence encoder on ONNX Runtime: two intra-op threads that never spin.

    Measured on BANKING77 test queries (p95 42 tokens), one query at a time, p50 / p95: one
    thread 8.4 / 17.9 ms; two spinning threads 4.5 / 10.0 ms on a quiet machine but 11.0 /
    28.5 ms with the other core busy; two threads without spinning 6.3 / 12.5 ms quiet and
    7.0 / 15.0 ms with a core busy, where one thread measured 6.2 / 14.7 ms — never much worse.
    """

    def __init__(self, model_path: Path, onnx_file: Path) -> None:
        import onnxruntime as ort

        super().__init__(model_path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )

    def _forward(self, ids: npt.NDArray[np.int64], mask: Array) -> Array:
        feeds = {"input_ids": ids, "attention_mask": mask.astype(np.int64)}
        (vectors,) = self.session.run(None, feeds)
        return np.asarray(vectors, dtype=np.float32)



class OnnxBertEncoder(BertEncoder):
    """The ONNX Runtime BERT as an Encoder (backend "onnx"); needs the model's export."""

    backend_name = "onnx"

    @classmethod
    def unavailable(cls, name_or_path: str, cache_dir: Path | None) -> str | None:
        """None if the model is a BERT mean-pooling directory exported to cache_dir."""
        reason = super().unavailable(name_or_path, cache_dir)
        if reason is None and (
            cache_dir is None or not export_path(cache_dir, model_id(name_or_path)).exists()
        ):
            reason = (f"no ONNX export of {name_or_path} in {cache_dir}: "
                      "run `python -m knowledge.build.onnx_export`")
        return reason

    def _load(self, path: Path, mid: str, cache_dir: Path | None) -> BertNetwork:
        assert cache_dir is not None  # unavailable() said so
        return OnnxBert(path, export_path(cache_dir, mid))
