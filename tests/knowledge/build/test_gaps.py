"""Knowledge-gap mining (knowledge.build.gaps) with the real encoder and the demo FAQ index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from knowledge.build import gaps
from knowledge.build.sources import load_faq
from knowledge.runtime.encoders import Encoder
from knowledge.runtime.engine import FaqEngine
from tests.knowledge.conftest import DEMO_FAQ

NOW = datetime(2026, 6, 1, tzinfo=UTC)
# Topics the demo FAQ has no entry for (the engine declines them or answers weakly).
JOBS = ["are you hiring", "do you have job openings", "can I work for you",
        "any open positions at your company"]
MERCH = ["can I buy a nimbus t-shirt", "where can I get nimbus merchandise"]
# Answered at the time, yet the customer still asked for a person: stays a gap.
STICKERS = "nimbus hoodie"
# Declined once, but the FAQ has them word for word (case and punctuation aside) now.
KNOWN = ["How do I reset my password?", "how much does pro cost"]
# Declined once, answered confidently now: a gap that has been filled.
FILLED = ["I can't remember my password"]


def questions(texts: list[str], start: int, days_ago: int = 0, outcome: str = "declined"
              ) -> list[gaps.Question]:
    return [gaps.Question(key=start + i, text=t, at=NOW - timedelta(days=days_ago + i),
                          outcome=outcome) for i, t in enumerate(texts)]


def paraphrases() -> list[tuple[str, str]]:
    return [(e.id, q) for e in load_faq(DEMO_FAQ) for q in e.questions]


def test_threshold_learnt_from_the_faq_regroups_its_entries(encoder: Encoder) -> None:
    pairs = paraphrases()
    vectors = encoder.encode([q for _, q in pairs])
    threshold, ari = gaps.learn_threshold(vectors, [e for e, _ in pairs])
    assert threshold in gaps.THRESHOLDS[1:-1]  # an inner optimum, not the end of the grid
    # Better than one cluster per question or one for all (ARI 0 is chance level).
    assert ari is not None and ari > 0.2
    # Too few entries to learn from: the default.
    assert gaps.learn_threshold(vectors[:4], ["a", "a", "b", "b"]) == (gaps.DEFAULT_THRESHOLD,
                                                                      None)


def test_weekly_counts_and_trend() -> None:
    times = [NOW - timedelta(days=d) for d in (0, 1, 2, 8, 20, 60)]
    assert gaps.weekly_counts(times, now=NOW, weeks=4) == [0, 1, 1, 3]
    assert gaps.trend_of([0, 1, 1, 3]) == round((4 - 1) / 5, 3)
    assert gaps.trend_of([2, 0, 0, 0]) == -1.0
    assert gaps.trend_of([0, 0]) == 0.0


def test_mining_groups_new_topics_and_drops_what_is_answered(
    encoder: Encoder, demo_engine: FaqEngine
) -> None:
    asked = (questions(JOBS, 100) + questions(MERCH, 200, days_ago=30)
             + questions([STICKERS], 250, days_ago=30, outcome="answered")
             + questions(KNOWN, 300) + questions(FILLED, 350)
             + questions(["Are you HIRING"], 400))  # a repeat, differently cased
    mined = gaps.mine(asked, encoder=encoder, paraphrases=paraphrases(), engine=demo_engine,
                      now=NOW)
    assert mined.dropped_answered == len(KNOWN) + len(FILLED)
    assert mined.questions == len(asked)
    assert mined.distinct == len(asked) - 1 - len(KNOWN)  # verbatim FAQ questions: not embedded
    topics = [{q.text for q in c.questions} for c in mined.clusters]
    assert {*JOBS, "Are you HIRING"} in topics
    assert {*MERCH, STICKERS} in topics
    jobs = next(c for c in mined.clusters if "are you hiring" in c.texts)
    assert jobs.label in JOBS and jobs.nearest is not None and jobs.suggestion == "new"
    assert jobs.size == len(JOBS) + 1 and jobs.weekly[-1] == jobs.size and jobs.trend > 0
    merch = next(c for c in mined.clusters if STICKERS in c.texts)
    assert merch.trend < 0  # asked a month ago, not since
    assert mined.clusters[0] is jobs  # largest first


def test_singletons_are_not_clusters(encoder: Encoder) -> None:
    mined = gaps.mine(questions(["what is the weather on mars"], 1), encoder=encoder,
                      paraphrases=[], now=NOW)
    assert mined.clusters == [] and mined.threshold == gaps.DEFAULT_THRESHOLD


def test_cluster_labels_follow_the_threshold() -> None:
    vectors = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.14, 0.99]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = gaps.cluster_labels(vectors, 0.1)
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]
    assert len(set(gaps.cluster_labels(vectors, 1.5).tolist())) == 1
