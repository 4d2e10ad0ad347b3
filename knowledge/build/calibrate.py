"""Choosing the decision threshold from the FAQ itself (cross-validation) and out-of-scope examples.

Each entry's paraphrases are split into k folds (round robin); a fold's paraphrases are scored by
a kNN index and head built from the other folds, exactly as the engine would score an unseen
paraphrase. Out-of-scope examples are scored by the same fold models. The answer threshold is the
lowest one at which at least ``min_oos_recall`` of the out-of-scope examples are declined (so
in-scope accuracy is as high as that allows); if no threshold reaches it, the one maximising
(in-scope answered right) + (out-of-scope declined). Without out-of-scope examples: the 5th
percentile of the scores of correctly ranked held-out paraphrases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from knowledge.runtime.scoring import (
    Floats,
    Head,
    Ints,
    ScoringParams,
    Thresholds,
    fit_temperature,
    score_matrix_and_similarity,
    sharpen,
    train_head,
)

# Candidate weights of the top entry's cosine in the decision (Thresholds.cos_weight); the build
# keeps the one with the best cross-validated in-scope accuracy at the out-of-scope recall target.
COS_WEIGHTS = (0.0, 2.0, 4.0, 8.0)
# Threshold grid: fine below 0.05, where the cosine factor puts the scores when cos_weight > 0.
THRESHOLD_GRID = np.unique(np.r_[np.geomspace(1e-4, 0.05, 80), np.linspace(0.05, 0.95, 91)])


def folds_for(row_entry: Ints, k: int) -> Ints:
    """Fold number per row: round robin within each entry; -1 for entries with one paraphrase."""
    folds = np.full(len(row_entry), -1, dtype=np.int64)
    for entry in np.unique(row_entry):
        rows = np.nonzero(row_entry == entry)[0]
        if len(rows) >= 2:
            folds[rows] = np.arange(len(rows)) % k
    return folds


@dataclass
class CvScores:
    """Out-of-fold probabilities and per-entry cosines of held-out paraphrases and OOS queries."""

    probs: Floats
    sims: Floats
    labels: Ints
    oos_probs: Floats
    oos_sims: Floats


def cross_val_scores(
    vectors: Floats,
    row_entry: Ints,
    n_entries: int,
    oos: Floats | None,
    params: ScoringParams,
    use_head: bool,
    k: int,
    init: Head | None = None,
) -> CvScores:
    """Out-of-fold scores of held-out paraphrases (+ labels) and of out-of-scope queries."""
    folds = folds_for(row_entry, k)
    probs, sims, labels, oos_probs, oos_sims = [], [], [], [], []
    for fold in range(k):
        test = folds == fold
        if not test.any():
            continue
        train = ~test
        head: Head | None = None
        if use_head:
            head = train_head(vectors[train], row_entry[train], n_entries, params.head_c, init=init)
        args = (vectors[train], row_entry[train], n_entries, head, params)
        p, s = score_matrix_and_similarity(vectors[test], *args)
        probs.append(p)
        sims.append(s)
        labels.append(row_entry[test])
        if oos is not None and len(oos):
            p, s = score_matrix_and_similarity(oos, *args)
            oos_probs.append(p)
            oos_sims.append(s)
    empty = np.zeros((0, n_entries), dtype=np.float32)
    stack = lambda parts: np.vstack(parts) if parts else empty  # noqa: E731
    return CvScores(
        stack(probs),
        stack(sims),
        np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64),
        stack(oos_probs),
        stack(oos_sims),
    )


def top2(probs: Floats) -> tuple[Floats, Floats, Ints]:
    """Top probability, second probability and top index per row."""
    if probs.shape[1] < 2:
        return probs[:, 0], np.zeros(len(probs), dtype=np.float32), np.zeros(len(probs), np.int64)
    part = np.argpartition(-probs, 1, axis=1)[:, :2]
    vals = np.take_along_axis(probs, part, axis=1)
    order = np.argsort(-vals, axis=1)
    part = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    return vals[:, 0], vals[:, 1], part[:, 0]


def choose_threshold(
    probs: Floats,
    labels: Ints,
    oos_probs: Floats,
    clarify_ratio: float,
    min_oos_recall: float,
    sims: Floats | None = None,
    oos_sims: Floats | None = None,
    cos_weight: float = 0.0,
) -> tuple[float, dict[str, float]]:
    """The answer threshold: lowest reaching min_oos_recall, else best accuracy + recall.

    sims/oos_sims (per-entry cosines, same shape as the probabilities) are needed when
    cos_weight > 0: the rule then looks at the top entry's cosine too (Thresholds).
    """
    p1, p2, top = top2(probs)
    correct = top == labels
    o1, o2, otop = top2(oos_probs)
    if len(o1) == 0:
        ok = p1[correct]
        t = float(np.quantile(ok, 0.05)) if len(ok) else 0.5
        return t, {"cv_accuracy": float(correct.mean()) if len(correct) else 0.0}
    s1 = s_o = None
    if cos_weight and sims is not None and oos_sims is not None:
        s1 = sims[np.arange(len(top)), top]
        s_o = oos_sims[np.arange(len(otop)), otop]
    best: tuple[float, float, float, float] = (-1.0, 0.5, 0.0, 0.0)
    reaching: tuple[float, float, float, float] | None = None
    for t in THRESHOLD_GRID:
        rule = Thresholds(float(t), clarify_ratio, cos_weight)
        acc = float((correct & ~rule.declines(p1, p2, s1)).mean())
        recall = float(rule.declines(o1, o2, s_o).mean())
        if acc + recall > best[0] + 1e-9:
            best = (acc + recall, float(t), acc, recall)
        if reaching is None and recall >= min_oos_recall:
            reaching = (acc + recall, float(t), acc, recall)
    best = reaching or best
    return best[1], {
        "cv_accuracy": float(correct.mean()),
        "cv_accuracy_at_threshold": best[2],
        "cv_oos_recall": best[3],
        "n_in_scope": float(len(labels)),
        "n_out_of_scope": float(len(o1)),
    }


def calibrate(
    vectors: Floats,
    row_entry: Ints,
    n_entries: int,
    oos: Floats | None,
    params: ScoringParams,
    use_head: bool,
    clarify_ratio: float = 0.5,
    init: Head | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Thresholds for the manifest and how they were obtained.

    With out-of-scope examples, the cosine weight is chosen from COS_WEIGHTS too: the one whose
    threshold reaches the recall target with the highest cross-validated in-scope accuracy at
    threshold (if none reaches it, the highest accuracy + recall); ties keep the smaller weight.
    """
    if n_entries < 2:
        return {"answer": 0.5, "clarify_ratio": clarify_ratio}, {"method": "default"}
    k = 5 if len(vectors) <= 5000 else 3
    cv = cross_val_scores(vectors, row_entry, n_entries, oos, params, use_head, k, init)
    # Calibrate the scores first (temperature scaling on the held-out paraphrases), then choose
    # the thresholds on the calibrated scores, as the engine will see them.
    temperature = round(fit_temperature(cv.probs, cv.labels), 4)
    cv.probs = sharpen(cv.probs, temperature)
    cv.oos_probs = sharpen(cv.oos_probs, temperature)
    weights = COS_WEIGHTS if len(cv.oos_probs) else (0.0,)
    chosen: tuple[tuple[bool, float], float, float, dict[str, float]] | None = None
    by_weight: dict[str, float] = {}
    for w in weights:
        t, stats = choose_threshold(
            cv.probs,
            cv.labels,
            cv.oos_probs,
            clarify_ratio,
            params.min_oos_recall,
            cv.sims,
            cv.oos_sims,
            w,
        )
        acc = stats.get("cv_accuracy_at_threshold", stats["cv_accuracy"])
        recall = stats.get("cv_oos_recall", 0.0)
        reached = recall >= params.min_oos_recall
        key = (reached, acc if reached else acc + recall)
        by_weight[f"{w:g}"] = round(acc, 4)
        if chosen is None or key > chosen[0]:
            chosen = (key, w, t, stats)
    assert chosen is not None
    _, cos_weight, answer, stats = chosen
    method = (
        f"{k}-fold cross-validation on paraphrases + out-of-scope examples; scores "
        f"temperature-scaled (T = {temperature:g}, fitted on the held-out paraphrases); lowest "
        "threshold "
        f"declining >= {params.min_oos_recall:.0%} of out-of-scope; cosine weight from "
        f"{list(weights)} by accuracy at threshold"
    )
    thresholds = {"answer": round(answer, 5), "clarify_ratio": clarify_ratio}
    if cos_weight:
        thresholds["cos_weight"] = cos_weight
    if temperature != 1.0:
        thresholds["temperature"] = temperature
    return thresholds, {
        "method": method,
        **stats,
        "cv_accuracy_at_threshold_by_cos_weight": by_weight,
    }
