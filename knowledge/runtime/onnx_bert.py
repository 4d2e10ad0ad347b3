"""The encoder on ONNX Runtime: the network and vectors of ``knowledge.runtime.minilm``, ~2x faster.

``python -m knowledge.runtime.onnx_bert [--model M]`` exports the settings' model once (torch's ONNX
exporter; a few seconds) to ``<data_dir>/models/<model id>/model.onnx``; after that the action
server, the build and the benchmark encode with ONNX Runtime and never import torch. The export
is checked against the numpy forward pass before it is kept, so the vectors stay those of the
model id and no index needs re-embedding.

Why: one short query through MiniLM is ~160 M multiply-adds. numpy pays for every op separately
(~10 ms on one core here); ONNX Runtime fuses layer norm, GELU and attention and runs the same
float32 arithmetic in ~5 ms (table in docs/knowledge.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from knowledge.runtime.minilm import Array, BertSentenceEncoder, supports

ONNX_FILE = "model.onnx"
# Export is accepted when every check sentence's vector matches the numpy encoder this closely.
MIN_COSINE = 0.99999
_CHECK = (
    "hello",
    "How do I reset my password if I no longer have access to the email address on my account?",
    "card arrived but it doesn't work, what now",
)


def export_path(cache_dir: Path, model_id: str) -> Path:
    """Where the export of model_id lives under cache_dir."""
    safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in model_id)
    return Path(cache_dir) / safe / ONNX_FILE


def export(model_path: Path, out: Path) -> Path:
    """Export a BERT + mean pooling + normalise model to out (atomic), checked against numpy."""
    from knowledge.runtime.encoder import hub_offline

    hub_offline()
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    from knowledge.runtime.minilm import NumpyBert

    transformers_logging.disable_progress_bar()
    bert = AutoModel.from_pretrained(str(model_path)).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=".export-", suffix=".onnx")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        example = torch.ones(1, 8, dtype=torch.long)
        # The tracer warns about Python conditionals in transformers' mask code; they are fixed
        # for this graph (no causal mask, no cache), which the numpy check below confirms.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(),
                (example, example),
                str(tmp),
                input_names=["input_ids", "attention_mask"],
                output_names=["embedding"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "length"},
                    "attention_mask": {0: "batch", 1: "length"},
                },
                opset_version=17,
                dynamo=False,
            )
        reference = NumpyBert(model_path).encode(_CHECK)
        got = OnnxBert(model_path, tmp).encode(_CHECK)
        worst = float((reference * got).sum(axis=1).min())
        if worst < MIN_COSINE:
            raise RuntimeError(f"ONNX export of {model_path} disagrees with numpy (cos {worst})")
        tmp.chmod(0o644)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


class OnnxBert(BertSentenceEncoder):
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


def ensure_export(model: str, cache_dir: Path) -> tuple[Path | None, bool]:
    """Export model to cache_dir unless done; (export path or None if model is not a BERT
    mean-pooling directory, whether it was exported now)."""
    from knowledge.runtime.encoder import model_id

    path = Path(model)
    if not (path.is_dir() and supports(path)):
        return None, False
    out = export_path(cache_dir, model_id(model))
    if out.exists():
        return out, False
    return export(path, out), True


def main(argv: Sequence[str] | None = None) -> int:
    """Export the configured model if it is a BERT mean-pooling model and not exported yet."""
    from relay.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m knowledge.runtime.onnx_bert",
                                     description=__doc__)
    parser.add_argument("--model", default=settings.embedding_model)
    parser.add_argument("--cache-dir", type=Path, default=settings.models_dir)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        out, fresh = ensure_export(args.model, args.cache_dir)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if out is None:
        print(f"{args.model}: not a BERT mean-pooling directory; it runs on sentence-transformers")
    elif fresh:
        print(f"exported {args.model} to {out} in {time.perf_counter() - started:.1f}s")
    else:
        print(f"ONNX encoder up to date: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
