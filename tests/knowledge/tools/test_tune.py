"""Fine-tuning on an FAQ's paraphrases gives a model the fast encoders run, with wider margins."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from knowledge.runtime.encoders import Encoder, load_encoder
from knowledge.runtime.encoders.bert import supports
from knowledge.tools.tune import TuneParams, fine_tune


def test_fine_tuning_pulls_paraphrases_together(tmp_path: Path, model_path: str) -> None:
    groups = [
        ["how much is pro", "price of the pro plan", "what does pro cost"],
        ["I forgot my password", "reset my password", "can't sign in"],
        ["when is support open", "support opening hours", "are agents there on sunday"],
    ]
    texts = [t for g in groups for t in g]
    labels = [i for i, g in enumerate(groups) for _ in g]

    def margin(encoder: Encoder) -> float:
        """Mean of (cosine to own group's other members - best cosine to another group)."""
        v = encoder.encode(texts)
        sims = v @ v.T
        out = []
        for i, label in enumerate(labels):
            own = [sims[i, j] for j, lab in enumerate(labels) if lab == label and j != i]
            other = [sims[i, j] for j, lab in enumerate(labels) if lab != label]
            out.append(np.mean(own) - np.max(other))
        return float(np.mean(out))

    tuned = fine_tune(
        model_path,
        texts,
        labels,
        tmp_path / "tuned",
        TuneParams(epochs=4, lr=1e-4, batch_size=4),
        progress=False,
    )
    assert supports(tuned)  # the numpy / ONNX encoder runs the tuned model
    tuned_encoder = load_encoder(str(tuned))
    assert tuned_encoder.backend == "numpy" and tuned_encoder.id != load_encoder(model_path).id
    assert margin(tuned_encoder) > margin(load_encoder(model_path)) + 0.05
    # Tuning again into the same directory gives a new model id (no stale cached vectors).
    fine_tune(model_path, texts, labels, tuned, TuneParams(epochs=1, batch_size=9), progress=False)
    assert load_encoder(str(tuned)).id != tuned_encoder.id
