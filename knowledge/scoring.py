"""How a query's nearest paraphrases and the classifier head become calibrated entry scores.

The same functions score queries in the engine, in the builder's threshold calibration and in
the benchmark, so what the benchmark measures is what the bot does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ScoringParams:
    """Blend of the two signals: p = w_head * softmax(head) + (1 - w_head) * softmax(knn / tau)."""

    w_head: float = 0.6
    tau: float = 0.05
    head_c: float = 30.0  # inverse L2 regularisation of the logistic-regression head


@dataclass(frozen=True)
class Head:
    """A linear (multinomial logistic regression) classifier on frozen sentence embeddings."""

    weights: Floats  # (n_entries, dim)
    bias: Floats  # (n_entries,)

    def logits(self, queries: Floats) -> Floats:
        """Raw class scores for query vectors (m, dim) -> (m, n_entries)."""
        return np.asarray(queries @ self.weights.T + self.bias, dtype=np.float32)


def train_head(vectors: Floats, labels: Ints, n_entries: int, c: float) -> Head:
    """Fit the head on paraphrase vectors (labels = entry index); seconds on CPU."""
    from sklearn.linear_model import LogisticRegression

    classes = np.unique(labels)
    model = LogisticRegression(C=c, max_iter=500, tol=1e-3)
    model.fit(vectors, labels)
    # Entries absent from the training labels (impossible in a full build) keep -inf-like scores.
    weights = np.zeros((n_entries, vectors.shape[1]), dtype=np.float32)
    bias = np.full(n_entries, -1e4, dtype=np.float32)
    if len(classes) == 2:  # sklearn stores a single row for the binary case
        coef = np.vstack([-model.coef_[0], model.coef_[0]]) / 2
        inter = np.array([-model.intercept_[0], model.intercept_[0]]) / 2
    else:
        coef, inter = model.coef_, model.intercept_
    weights[classes] = coef
    bias[classes] = inter
    return Head(weights, bias)


def softmax(x: Floats) -> Floats:
    """Row-wise softmax."""
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float32)


def entry_similarity(
    sims: Floats, rows: Ints, row_entry: Ints, n_entries: int
) -> tuple[Floats, Ints]:
    """Max cosine per entry over the retrieved paraphrases, and which row gave it.

    Entries none of whose paraphrases were retrieved get the lowest retrieved similarity: an
    upper bound on their true similarity that keeps them out of the top.
    """
    m = sims.shape[0]
    valid = rows >= 0
    floor = np.where(valid, sims, np.inf).min(axis=1)
    floor = np.where(np.isfinite(floor), floor, 0.0)
    best = np.repeat(floor[:, None], n_entries, axis=1).astype(np.float32)
    best_row = np.full((m, n_entries), -1, dtype=np.int64)
    # Iterate from the least to the most similar so the best row per entry is written last.
    for j in range(sims.shape[1] - 1, -1, -1):
        ok = valid[:, j]
        qi = np.nonzero(ok)[0]
        ents = row_entry[rows[qi, j]]
        better = sims[qi, j] >= best[qi, ents]
        best[qi[better], ents[better]] = sims[qi[better], j]
        best_row[qi[better], ents[better]] = rows[qi[better], j]
    return best, best_row


def combine(knn: Floats, logits: Floats | None, params: ScoringParams) -> Floats:
    """Entry probabilities (m, n_entries) from per-entry similarity and optional head logits."""
    p_knn = softmax(knn / params.tau)
    if logits is None:
        return p_knn
    p_head = softmax(logits)
    return np.asarray(params.w_head * p_head + (1 - params.w_head) * p_knn, dtype=np.float32)


@dataclass(frozen=True)
class Thresholds:
    """Decision rule on the top two entry probabilities p1 >= p2.

    answer if p1 >= answer; clarify if not, but p1 + p2 >= answer and p2 >= clarify_ratio * p1
    (two plausible, close candidates that together are confident); decline otherwise.
    """

    answer: float = 0.5
    clarify_ratio: float = 0.5

    def kind(self, p1: float, p2: float) -> str:
        """'answer', 'clarify' or 'decline'."""
        if p1 >= self.answer:
            return "answer"
        if p1 + p2 >= self.answer and p2 >= self.clarify_ratio * p1:
            return "clarify"
        return "decline"

    def declines(self, p1: Floats, p2: Floats) -> npt.NDArray[np.bool_]:
        """Vectorised: which rows are declined."""
        clarify = (p1 + p2 >= self.answer) & (p2 >= self.clarify_ratio * p1)
        return np.asarray((p1 < self.answer) & ~clarify)


def score_matrix(
    queries: Floats,
    vectors: Floats,
    row_entry: Ints,
    n_entries: int,
    head: Head | None,
    params: ScoringParams,
    k: int = 64,
) -> Floats:
    """Entry probabilities for many queries by exact search (calibration and evaluation)."""
    sims_all = queries @ vectors.T
    k = min(k, vectors.shape[0])
    rows = np.argpartition(-sims_all, k - 1, axis=1)[:, :k]
    sims = np.take_along_axis(sims_all, rows, axis=1)
    knn, _ = entry_similarity(sims.astype(np.float32), rows.astype(np.int64), row_entry, n_entries)
    logits = head.logits(queries) if head is not None else None
    return combine(knn, logits, params)
