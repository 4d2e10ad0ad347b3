"""How a query's nearest paraphrases and the classifier head become calibrated entry scores.

The same functions score queries in the engine, in the builder's threshold calibration and in
the benchmark, so what the benchmark measures is what the bot does.
"""

from __future__ import annotations

from collections.abc import Callable
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
    # Product decision, not a fitted value: the share of off-topic questions the bot must
    # decline; the build picks the lowest threshold reaching it in cross-validation.
    min_oos_recall: float = 0.75


@dataclass(frozen=True)
class Head:
    """A linear (multinomial logistic regression) classifier on frozen sentence embeddings."""

    weights: Floats  # (n_entries, dim)
    bias: Floats  # (n_entries,)

    def logits(self, queries: Floats) -> Floats:
        """Raw class scores for query vectors (m, dim) -> (m, n_entries)."""
        return np.asarray(queries @ self.weights.T + self.bias, dtype=np.float32)


def train_head(
    vectors: Floats,
    labels: Ints,
    n_entries: int,
    c: float,
    *,
    init: Head | None = None,
    max_iter: int = 150,
) -> Head:
    """Fit the head on paraphrase vectors (labels = entry index) by L-BFGS; init warm-starts it.

    The objective is scikit-learn's multinomial LogisticRegression (sum of cross-entropies +
    ||W||^2 / 2C, bias not penalised), written here because importing scikit-learn alone costs
    more than the 2 s budget of a one-entry rebuild (and scipy's L-BFGS-B was slower still).
    """
    n, dim = vectors.shape
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    present = np.zeros(n_entries, dtype=bool)
    present[labels] = True
    onehot = np.zeros((n, n_entries), dtype=np.float32)
    onehot[np.arange(n), labels] = 1.0
    # Entries without any training paraphrase (a fold in calibration) get a very low bias.
    absent_bias = np.where(present, 0.0, -1e4).astype(np.float32)

    def loss_grad(theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        w = theta[: n_entries * dim].reshape(n_entries, dim).astype(np.float32)
        b = theta[n_entries * dim :].astype(np.float32)
        z = x @ w.T + b + absent_bias
        z -= z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
        log_p = z - log_norm
        loss = -float((onehot * log_p).sum()) + float((w.astype(np.float64) ** 2).sum()) / (2 * c)
        diff = np.exp(log_p) - onehot
        grad_w = diff.T @ x + w / c
        grad_b = diff.sum(axis=0)
        return loss, np.concatenate([grad_w.ravel(), grad_b]).astype(np.float64)

    if init is not None and init.weights.shape == (n_entries, dim):
        theta0 = np.concatenate([init.weights.ravel(), np.clip(init.bias, -50, 50)])
    else:
        theta0 = np.zeros(n_entries * (dim + 1))
    theta = _lbfgs(loss_grad, theta0.astype(np.float64), max_iter)
    weights = theta[: n_entries * dim].reshape(n_entries, dim).astype(np.float32)
    bias = (theta[n_entries * dim :] + absent_bias).astype(np.float32)
    return Head(weights, bias)


def _lbfgs(
    fun: Callable[[npt.NDArray[np.float64]], tuple[float, npt.NDArray[np.float64]]],
    x: npt.NDArray[np.float64],
    max_iter: int,
    memory: int = 10,
    gtol: float = 1e-4,
) -> npt.NDArray[np.float64]:
    """Minimise a smooth function by L-BFGS with a backtracking (Armijo) line search."""
    f, g = fun(x)
    s_hist: list[npt.NDArray[np.float64]] = []
    y_hist: list[npt.NDArray[np.float64]] = []
    for _ in range(max_iter):
        if np.abs(g).max() < gtol:
            break
        q = g.copy()
        alphas = []
        for s_i, y_i in zip(reversed(s_hist), reversed(y_hist), strict=True):
            a = s_i @ q / (y_i @ s_i)
            alphas.append(a)
            q -= a * y_i
        if s_hist:
            q *= (s_hist[-1] @ y_hist[-1]) / (y_hist[-1] @ y_hist[-1])
        else:
            q /= max(1.0, float(np.linalg.norm(g)))
        for s_i, y_i, a in zip(s_hist, y_hist, reversed(alphas), strict=True):
            q += s_i * (a - y_i @ q / (y_i @ s_i))
        direction = -q
        slope = float(g @ direction)
        if slope >= 0:  # not a descent direction: restart from steepest descent
            s_hist.clear()
            y_hist.clear()
            direction, slope = -g, -float(g @ g)
        step = 1.0
        while True:
            x_new = x + step * direction
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s_new, y_new = x_new - x, g_new - g
        if s_new @ y_new > 1e-10:
            s_hist.append(s_new)
            y_hist.append(y_new)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
        if f - f_new < 1e-9 * max(1.0, abs(f)):
            x, f, g = x_new, f_new, g_new
            break
        x, f, g = x_new, f_new, g_new
    return x


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
    m, depth = sims.shape
    valid = rows >= 0
    floor = np.where(valid, sims, np.inf).min(axis=1)
    floor = np.where(np.isfinite(floor), floor, 0.0)
    best = np.repeat(floor[:, None], n_entries, axis=1).astype(np.float32)
    best_row = np.full((m, n_entries), -1, dtype=np.int64)
    query = np.broadcast_to(np.arange(m)[:, None], (m, depth))[valid]
    position = np.broadcast_to(np.arange(depth)[None, :], (m, depth))[valid]
    retrieved = rows[valid]
    entry = row_entry[retrieved]
    cosine = sims[valid]
    # ufunc.at handles repeated (query, entry) pairs, unlike fancy-index assignment.
    np.maximum.at(best, (query, entry), cosine)
    # The row that gave each maximum: the first (most similar) retrieved position reaching it.
    reached = cosine >= best[query, entry]
    first = np.full((m, n_entries), depth, dtype=np.int64)
    np.minimum.at(first, (query[reached], entry[reached]), position[reached])
    found_q, found_e = np.nonzero(first < depth)
    best_row[found_q, found_e] = rows[found_q, first[found_q, found_e]]
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
    """Decision rule on the top two entry probabilities p1 >= p2 and the top entry's cosine.

    Both probabilities are first multiplied by exp(cos_weight * (similarity - 1)), where
    similarity is the best cosine between the query and the top entry's paraphrases: the head's
    probability says which entry, the raw cosine says whether the query is near any of them at
    all (it separates out-of-scope queries better, see docs/knowledge.md). cos_weight = 0 is the
    probability-only rule. Then: answer if q1 >= answer; clarify if not, but q1 + q2 >= answer
    and q2 >= clarify_ratio * q1 (two plausible, close candidates that together are confident);
    decline otherwise.
    """

    answer: float = 0.5
    clarify_ratio: float = 0.5
    cos_weight: float = 0.0
    # Fitted by the build (calibrate.fit_temperature): the blend's probabilities are sharpened by
    # this temperature so that a score of 0.9 is right about 90% of the time. The thresholds
    # above apply to the sharpened probabilities.
    temperature: float = 1.0

    def factor(self, similarity: float | None) -> float:
        """The multiplier for the probabilities (1 without a similarity or a weight)."""
        if similarity is None or self.cos_weight == 0:
            return 1.0
        return float(np.exp(self.cos_weight * (min(similarity, 1.0) - 1.0)))

    def kind(self, p1: float, p2: float, similarity: float | None = None) -> str:
        """'answer', 'clarify' or 'decline'."""
        f = self.factor(similarity)
        q1, q2 = p1 * f, p2 * f
        if q1 >= self.answer:
            return "answer"
        if q1 + q2 >= self.answer and q2 >= self.clarify_ratio * q1:
            return "clarify"
        return "decline"

    def declines(
        self, p1: Floats, p2: Floats, similarity: Floats | None = None
    ) -> npt.NDArray[np.bool_]:
        """Vectorised: which rows are declined."""
        if similarity is not None and self.cos_weight != 0:
            f = np.exp(self.cos_weight * (np.minimum(similarity, 1.0) - 1.0))
            p1, p2 = p1 * f, p2 * f
        clarify = (p1 + p2 >= self.answer) & (p2 >= self.clarify_ratio * p1)
        return np.asarray((p1 < self.answer) & ~clarify)


def sharpen(probs: Floats, temperature: float) -> Floats:
    """Temperature scaling of probability rows: softmax(log p / temperature)."""
    if temperature == 1.0:
        return probs
    logp = np.asarray(np.log(np.maximum(probs, 1e-30)) / temperature, dtype=np.float32)
    return softmax(logp)


def fit_temperature(probs: Floats, labels: Ints) -> float:
    """The temperature minimising the negative log-likelihood of the true entries (grid)."""
    if len(labels) == 0:
        return 1.0
    rows = np.arange(len(labels))

    def nll(t: float) -> float:
        p = sharpen(probs, t)[rows, labels]
        return float(-np.log(np.maximum(p, 1e-30)).mean())

    grid = np.geomspace(0.05, 4.0, 64)
    return float(min(grid, key=nll))


def score_matrix_and_similarity(
    queries: Floats,
    vectors: Floats,
    row_entry: Ints,
    n_entries: int,
    head: Head | None,
    params: ScoringParams,
    k: int = 64,
) -> tuple[Floats, Floats]:
    """Entry probabilities and per-entry best cosines (m, n_entries) by exact search."""
    sims_all = queries @ vectors.T
    k = min(k, vectors.shape[0])
    rows = np.argpartition(-sims_all, k - 1, axis=1)[:, :k]
    sims = np.take_along_axis(sims_all, rows, axis=1)
    knn, _ = entry_similarity(sims.astype(np.float32), rows.astype(np.int64), row_entry, n_entries)
    logits = head.logits(queries) if head is not None else None
    return combine(knn, logits, params), knn
