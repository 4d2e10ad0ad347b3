"""Knowledge gaps: group the questions the bot could not answer well into topics worth an entry.

The questions are embedded with the FAQ engine's own encoder and grouped by agglomerative
clustering (scikit-learn, average linkage on cosine distance). Where to cut the tree is learnt
from the FAQ itself: the cut that best regroups the FAQ's own paraphrases by entry (adjusted
Rand index, which unlike NMI does not reward cutting into crumbs), so the threshold follows the
encoder and the domain without anyone tuning it. Chosen over HDBSCAN by
measurement (docs/insights.md): on CLINC150 intents the FAQ had never seen, NMI 0.91 against
HDBSCAN's 0.84, and HDBSCAN leaves a quarter of the questions as noise.

Each cluster knows its questions, its most central question (the label), its weekly counts and
trend, and the nearest existing entry — a cluster close to an entry is missing paraphrases, a
far one is a missing entry. crm_store.gaps feeds this from the CRM and stores the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from knowledge.runtime.encoders import Encoder, Vectors
    from knowledge.runtime.engine import FaqEngine, Hit

# Cuts tried when learning the threshold from the FAQ's paraphrases (cosine distance).
THRESHOLDS = tuple(round(0.40 + 0.05 * i, 2) for i in range(10))
DEFAULT_THRESHOLD = 0.6  # when the FAQ is too small to learn from
CALIBRATION_PER_ENTRY = 20
# A question the engine answers with a calibrated score below this is a weak answer.
LOW_CONFIDENCE = 0.5
# Average linkage keeps an n x n distance matrix: above this many distinct questions the most
# recent ones are clustered (4,000 ≈ 64 MB).
MAX_QUESTIONS = 4000
# A cluster this close (cosine) to an entry's paraphrases is offered as paraphrases of it
# (MiniLM: real paraphrase groups sit at 0.85 and above, unrelated ones sharing a word ~0.75).
PARAPHRASE_SIMILARITY = 0.8


@dataclass(frozen=True)
class Question:
    """One customer question: its id in the CRM, text, time and what the bot did with it."""

    key: int
    text: str
    at: datetime
    outcome: str | None = None


@dataclass
class Cluster:
    """Similar questions; label is the most central one."""

    questions: list[Question]
    label: str
    weekly: list[int]
    trend: float
    nearest: Hit | None = None
    texts: list[str] = field(default_factory=list)  # distinct texts, most central first

    @property
    def size(self) -> int:
        """How many questions (repeats included)."""
        return len(self.questions)

    @property
    def suggestion(self) -> str:
        """'paraphrases' if an entry is close enough to extend, else 'new'."""
        close = self.nearest is not None and (self.nearest.similarity or 0) >= PARAPHRASE_SIMILARITY
        return "paraphrases" if close else "new"


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def _bare(text: str) -> str:
    """text without case, punctuation or extra spaces: "How do I X?" == "how do i x"."""
    return " ".join("".join(c for c in text.casefold() if c.isalnum() or c.isspace()).split())


def cluster_labels(vectors: Vectors, threshold: float) -> np.ndarray:
    """Cluster label per row (average linkage, cosine distance, cut at threshold)."""
    from sklearn.cluster import AgglomerativeClustering

    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=np.int64)
    model = AgglomerativeClustering(
        n_clusters=None, distance_threshold=threshold, metric="cosine", linkage="average"
    )
    return np.asarray(model.fit_predict(vectors), dtype=np.int64)


def learn_threshold(
    vectors: Vectors, labels: Sequence[str], *, per_label: int = CALIBRATION_PER_ENTRY,
    seed: int = 13,
) -> tuple[float, float | None]:
    """(threshold, ARI): the cut that best regroups the FAQ's paraphrases by entry."""
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(seed)
    rows: list[int] = []
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    for members in by_label.values():
        picked = members if len(members) <= per_label else rng.choice(
            members, per_label, replace=False).tolist()
        rows.extend(picked)
    if len(by_label) < 3 or len(rows) < 10:
        return DEFAULT_THRESHOLD, None
    sample = vectors[rows]
    truth = [labels[i] for i in rows]
    best = (DEFAULT_THRESHOLD, -1.0)
    for threshold in THRESHOLDS:
        score = adjusted_rand_score(truth, cluster_labels(sample, threshold))
        if score > best[1]:
            best = (threshold, float(score))
    return best[0], round(best[1], 4)


def weekly_counts(times: Sequence[datetime], *, now: datetime, weeks: int) -> list[int]:
    """Questions per week, oldest week first, over the `weeks` weeks before now."""
    counts = [0] * weeks
    for at in times:
        age = int((now - at).total_seconds() // (7 * 86400))
        if 0 <= age < weeks:
            counts[weeks - 1 - age] += 1
    return counts


def trend_of(weekly: Sequence[int]) -> float:
    """-1..+1: the later half of the weeks against the earlier half."""
    half = len(weekly) // 2
    early, late = sum(weekly[:half]), sum(weekly[len(weekly) - half:])
    return 0.0 if early + late == 0 else round((late - early) / (late + early), 3)


def still_open(engine: FaqEngine, vector: Vectors, outcome: str | None) -> bool:
    """Whether a question is still a gap for the engine as it is now.

    A question the bot declined or was unsure about is filled once the engine answers it
    confidently (the FAQ changed since). One it *answered* stays open whatever the engine says
    now: it is here because the answer was weak or the customer still wanted a person, and the
    same index gives the same answer.
    """
    if outcome == "answered":
        return True
    decision = engine.decide_hits(engine.search_vector(vector, k=5))
    return decision.kind != "answer" or (decision.top is not None
                                         and decision.top.score < LOW_CONFIDENCE)


@dataclass
class Mined:
    """The result of one mining: clusters (largest first) and how it was done."""

    clusters: list[Cluster]
    questions: int
    distinct: int
    dropped_answered: int  # already in the FAQ word for word, or answered confidently now
    threshold: float
    calibration_ari: float | None


def mine(
    questions: Sequence[Question],
    *,
    encoder: Encoder,
    paraphrases: Sequence[tuple[str, str]],
    engine: FaqEngine | None = None,
    now: datetime,
    weeks: int = 8,
    threshold: float | None = None,
    min_size: int = 2,
) -> Mined:
    """Cluster questions into gaps; paraphrases are the FAQ's (entry id, question) pairs.

    A question that is word for word one of the FAQ's own questions is left out: the FAQ has
    it already, so adding it changes nothing (if the customer still wanted a person after its
    answer, the Insights figure of FAQ entries shows that). With an engine, declined questions
    it now answers confidently are dropped too (a gap already filled; see still_open), and each
    cluster gets its nearest entry.
    """
    known = {_bare(q) for _, q in paraphrases}
    by_text: dict[str, list[Question]] = {}
    verbatim = 0
    for q in sorted(questions, key=lambda q: q.at, reverse=True):
        key = _normalise(q.text)
        if _bare(q.text) in known:
            verbatim += 1
        elif key and (key in by_text or len(by_text) < MAX_QUESTIONS):
            by_text.setdefault(key, []).append(q)
    texts = [group[0].text for group in by_text.values()]
    vectors = encoder.encode(texts) if texts else np.zeros((0, encoder.dim), np.float32)
    dropped = 0
    if engine is not None and texts:
        keep = [i for i, text in enumerate(texts)
                if still_open(engine, vectors[i : i + 1], by_text[_normalise(text)][0].outcome)]
        kept = set(keep)
        dropped = sum(len(by_text[_normalise(texts[i])]) for i in range(len(texts))
                      if i not in kept)
        texts, vectors = [texts[i] for i in keep], vectors[keep]
    if threshold is None:
        faq_vectors = encoder.encode([q for _, q in paraphrases]) if paraphrases else None
        threshold, agreement = (learn_threshold(faq_vectors, [e for e, _ in paraphrases])
                          if faq_vectors is not None else (DEFAULT_THRESHOLD, None))
    else:
        agreement = None
    labels = cluster_labels(vectors, threshold) if len(texts) else np.zeros(0, np.int64)
    clusters = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        grouped = [q for i in members for q in by_text[_normalise(texts[i])]]
        if len(grouped) < min_size:
            continue
        centre = vectors[members].mean(axis=0)
        centre = centre / (np.linalg.norm(centre) or 1.0)
        order = members[np.argsort(-(vectors[members] @ centre))]
        weekly = weekly_counts([q.at for q in grouped], now=now, weeks=weeks)
        nearest = None
        if engine is not None:
            hits = engine.search_vector(centre[None, :].astype(np.float32), k=1)
            nearest = hits[0] if hits else None
        clusters.append(Cluster(
            questions=sorted(grouped, key=lambda q: q.at, reverse=True),
            label=texts[order[0]], weekly=weekly, trend=trend_of(weekly), nearest=nearest,
            texts=[texts[i] for i in order],
        ))
    clusters.sort(key=lambda c: (-c.size, c.label))
    return Mined(clusters, sum(len(g) for g in by_text.values()) + verbatim, len(by_text),
                 dropped + verbatim, threshold, agreement)
