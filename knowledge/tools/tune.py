"""Fine-tune the sentence encoder on the FAQ's own paraphrases, on the CPU.

``python -m knowledge.tools.tune [--faq PATH ...] [--out DIR] [--epochs N]`` writes a
sentence-transformers directory (BERT + mean pooling + normalise, so the numpy encoder runs it)
and prints the path to set as ``RELAY_EMBEDDING_MODEL``.

The objective is a cosine softmax over entries (NormFace): each entry has a learned unit
prototype, initialised at the centroid of its paraphrases, and a paraphrase is pushed towards
its own entry's prototype and away from the others, at scale ``SCALE``. That is the geometry the
engine searches with (cosine to paraphrases plus a linear head), so what is learned carries over
to the index; one forward pass per sentence makes it about twice as cheap per epoch as
MultipleNegativesRankingLoss on pairs.

Tuning is a separate, occasional step, not part of every build: a tuned model has another model
id, so the next build re-embeds everything once, and after that edits are embedded incrementally
with the tuned model as before.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from knowledge.build.index_store import replaced_dir
from knowledge.runtime.encoders import hub_offline

SCALE = 20.0
TUNE_INFO = "relay_tune.json"


@dataclass(frozen=True)
class TuneParams:
    """Training hyper-parameters (defaults chosen on the development splits, docs/knowledge.md)."""

    epochs: int = 3
    batch_size: int = 32
    lr: float = 4e-5
    prototype_lr: float = 2e-3
    warmup: float = 0.1
    label_smoothing: float = 0.0
    max_seq_length: int = 64
    seed: int = 0


def fine_tune(
    base_model: str,
    texts: Sequence[str],
    labels: Sequence[int],
    out_dir: Path,
    params: TuneParams | None = None,
    *,
    progress: bool = True,
) -> Path:
    """Fine-tune base_model so each text lies nearest its label's prototype; save to out_dir."""
    params = params or TuneParams()
    hub_offline()
    import torch
    import torch.nn.functional as F
    from sentence_transformers import SentenceTransformer
    from tqdm import tqdm

    if len(texts) != len(labels) or not texts:
        raise ValueError("fine_tune needs as many labels as texts, and at least one text")
    random.seed(params.seed)
    torch.manual_seed(params.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    model = SentenceTransformer(base_model, device="cpu")
    saved_max_length = model.max_seq_length
    model.max_seq_length = params.max_seq_length  # training only: paraphrases are short
    n_classes = max(labels) + 1
    y_all = torch.tensor(list(labels), dtype=torch.long)

    # Prototypes start at the class centroids of the untuned embeddings.
    with torch.no_grad():
        start = model.encode(
            list(texts), batch_size=64, convert_to_tensor=True, normalize_embeddings=True
        )
    centroids = torch.zeros(n_classes, start.shape[1]).index_add_(0, y_all, start)
    prototypes = torch.nn.Parameter(F.normalize(centroids, dim=1))

    order = list(range(len(texts)))
    steps_per_epoch = math.ceil(len(order) / params.batch_size)
    total = steps_per_epoch * params.epochs
    warmup = max(1, int(total * params.warmup))
    optimiser = torch.optim.AdamW(
        [
            {"params": model.parameters(), "lr": params.lr, "weight_decay": 0.01},
            {"params": [prototypes], "lr": params.prototype_lr, "weight_decay": 0.0},
        ]
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )
    model.train()
    bar = tqdm(total=total, desc="tuning", unit="step", disable=not progress)
    for _epoch in range(params.epochs):
        random.shuffle(order)
        for first in range(0, len(order), params.batch_size):
            batch = order[first : first + params.batch_size]
            features = model.preprocess([texts[i] for i in batch])
            embeddings = model(features)["sentence_embedding"]
            logits = SCALE * F.normalize(embeddings, dim=1) @ F.normalize(prototypes, dim=1).T
            loss = F.cross_entropy(logits, y_all[batch], label_smoothing=params.label_smoothing)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    model.eval()
    model.max_seq_length = saved_max_length
    # Written beside out_dir and swapped in whole, so a process loading out_dir never sees half
    # a model; relay_tune.json's tune_id changes the model id (knowledge.runtime.encoders.model_id),
    # so re-tuning in place re-embeds the index instead of reusing vectors of the old weights.
    out_dir = Path(out_dir).resolve()
    with replaced_dir(out_dir) as tmp:
        model.save(str(tmp))
        info = {"base_model": base_model, "n_texts": len(texts), "n_classes": n_classes}
        info |= asdict(params) | {"tune_id": uuid.uuid4().hex, "tuned_at": time.time()}
        (tmp / TUNE_INFO).write_text(json.dumps(info, indent=2))
        tmp.chmod(0o755)
    return out_dir


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    from knowledge.build.sources import FaqError, load_faq
    from relay.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m knowledge.tools.tune", description=__doc__)
    parser.add_argument("--faq", type=Path, nargs="*", help="default: the settings' FAQ paths")
    parser.add_argument("--model", default=settings.embedding_model, help="model to start from")
    parser.add_argument("--out", type=Path, default=settings.data_dir / "tuned-model")
    parser.add_argument("--epochs", type=int, default=TuneParams.epochs)
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    try:
        entries = load_faq(args.faq or settings.faq_paths)
    except FaqError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    texts = [q for e in entries for q in e.questions]
    labels = [i for i, e in enumerate(entries) for _ in e.questions]
    started = time.perf_counter()
    fine_tune(args.model, texts, labels, args.out, TuneParams(epochs=args.epochs))
    print(
        f"tuned {args.model} on {len(texts)} paraphrases of {len(entries)} entries in "
        f"{time.perf_counter() - started:.0f} s -> {args.out}\n"
        f"use it: RELAY_EMBEDDING_MODEL={args.out.resolve()} make build-index"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
