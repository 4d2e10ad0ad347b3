"""The engine on the real demo FAQ: paraphrases found, off-topic declined, hot reload."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from knowledge.build import build
from knowledge.build.calibrate import COS_WEIGHTS, choose_threshold
from knowledge.build.sources import FaqEntry
from knowledge.runtime.encoders import Encoder
from knowledge.runtime.engine import FaqEngine, Hit, IndexMissing
from knowledge.runtime.scoring import Thresholds


@pytest.mark.parametrize(
    ("query", "entry_id"),
    [
        ("how much do I pay for the pro subscription", "pro-price"),
        ("I can't remember my password", "reset-password"),
        ("my laptop won't sync my documents anymore", "sync-not-working"),
        ("how do I get my money back", "refund-policy"),
        ("is there a linux client", "install-desktop"),
        ("get back a folder I deleted by mistake", "restore-deleted"),
    ],
)
def test_unseen_paraphrase_finds_the_entry(
    demo_engine: FaqEngine, query: str, entry_id: str
) -> None:
    hits = demo_engine.search(query, k=5)
    assert hits[0].entry_id == entry_id
    assert len(hits) == 5 and all(0.0 <= h.score <= 1.0 for h in hits)
    assert hits[0].score >= hits[1].score
    assert hits[0].matched_question
    assert demo_engine.decide(query).kind in ("answer", "clarify")


@pytest.mark.parametrize(
    "query",
    [
        "what's the weather like in Berlin tomorrow",
        "recommend a good pasta recipe",
        "who won the world cup in 2014",
    ],
)
def test_off_topic_declines(demo_engine: FaqEngine, query: str) -> None:
    assert demo_engine.decide(query).kind == "decline"


def test_decision_rule() -> None:
    rule = Thresholds(answer=0.5, clarify_ratio=0.5)
    assert rule.kind(0.8, 0.1) == "answer"
    assert rule.kind(0.35, 0.30) == "clarify"
    assert rule.kind(0.35, 0.05) == "decline"
    assert rule.kind(0.2, 0.15) == "decline"


def test_clarify_returns_the_two_candidates(demo_engine: FaqEngine) -> None:
    t = demo_engine.manifest.thresholds.answer
    hits = [Hit("a", "A", "qa", 0.9 * t), Hit("b", "B", "qb", 0.8 * t), Hit("c", "C", "qc", 0.01)]
    decision = demo_engine.decide_hits(hits)
    assert decision.kind == "clarify"
    assert [h.entry_id for h in decision.hits] == ["a", "b"]
    assert demo_engine.decide_hits([Hit("a", "A", "qa", t)]).kind == "answer"


def small(extra: bool) -> list[FaqEntry]:
    out = [
        FaqEntry(
            id="pro-price",
            answer="$8",
            questions=["How much is Pro?", "Pro plan price", "pro cost"],
        ),
        FaqEntry(
            id="support-hours",
            answer="8-20 CET",
            questions=["When is support open?", "support hours", "opening times"],
        ),
    ]
    if extra:
        out.append(
            FaqEntry(
                id="refunds",
                answer="14 days",
                questions=["Can I get a refund?", "money back", "refund policy"],
            )
        )
    return out


def test_reload_if_changed_picks_up_a_rebuild(
    tmp_path: Path, encoder: Encoder, model_path: str
) -> None:
    index_dir = tmp_path / "index"
    build(small(False), index_dir=index_dir, model=model_path, encoder=encoder, progress=False)
    engine = FaqEngine(index_dir, encoder)
    assert engine.reload_if_changed() is False
    assert "refunds" not in {h.entry_id for h in engine.search("I want a refund", k=5)}

    results: list[bool] = []
    build(small(True), index_dir=index_dir, model=model_path, encoder=encoder, progress=False)
    threads = [
        threading.Thread(target=lambda: results.append(engine.reload_if_changed()))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1  # one thread swaps, the others see it done
    assert engine.search("I want a refund", k=1)[0].entry_id == "refunds"
    assert engine.reload_if_changed() is False


def test_missing_index_says_how_to_build(tmp_path: Path, encoder: Encoder) -> None:
    with pytest.raises(IndexMissing, match=r"python -m knowledge\.build"):
        FaqEngine(tmp_path / "nowhere", encoder)


def test_broken_rebuild_keeps_serving_the_old_index(
    tmp_path: Path, encoder: Encoder, model_path: str
) -> None:
    index_dir = tmp_path / "index"
    build(small(False), index_dir=index_dir, model=model_path, encoder=encoder, progress=False)
    engine = FaqEngine(index_dir, encoder)
    (index_dir / "manifest.json").write_text("{ half written")
    assert engine.reload_if_changed() is False
    assert engine.reload_if_changed() is False  # remembered: not re-read on every request
    assert engine.search("how much is pro", k=1)[0].entry_id == "pro-price"


def test_a_manifest_missing_a_field_is_refused_with_how_to_rebuild(
    tmp_path: Path, encoder: Encoder, model_path: str
) -> None:
    index_dir = tmp_path / "index"
    build(small(False), index_dir=index_dir, model=model_path, encoder=encoder, progress=False)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert FaqEngine(index_dir, encoder).manifest.model_dump(mode="json") == manifest
    del manifest["dim"], manifest["model_id"]
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    missing = r"not a complete manifest \(2 fields missing or wrong\): rebuild"
    with pytest.raises(IndexMissing, match=missing):
        FaqEngine(index_dir, encoder)


def test_entry_by_id_for_did_you_mean_choices(demo_engine: FaqEngine) -> None:
    hit = demo_engine.entry("pro-price")
    assert hit is not None and hit.entry_id == "pro-price" and "$8" in hit.answer
    assert hit.score == 1.0
    assert demo_engine.entry("no-such-entry") is None


def test_decision_rule_with_cosine_weight() -> None:
    rule = Thresholds(answer=0.5, clarify_ratio=0.5, cos_weight=4.0)
    assert rule.kind(0.8, 0.1, similarity=1.0) == "answer"
    assert rule.kind(0.8, 0.1) == "answer"  # no similarity known: probability only
    assert rule.kind(0.8, 0.1, similarity=0.5) == "decline"  # 0.8 * e^-2 = 0.11 < 0.5
    assert rule.kind(0.8, 0.1, similarity=0.95) == "answer"  # 0.8 * e^-0.2 = 0.65
    p1 = np.array([0.8, 0.8, 0.8], dtype=np.float32)
    p2 = np.array([0.1, 0.1, 0.1], dtype=np.float32)
    sims = np.array([1.0, 0.5, 0.95], dtype=np.float32)
    assert rule.declines(p1, p2, sims).tolist() == [False, True, False]
    assert Thresholds(answer=0.5).kind(0.8, 0.1, similarity=0.1) == "answer"  # weight 0


def test_choose_threshold_uses_the_cosine_when_it_separates_out_of_scope() -> None:
    # Out-of-scope queries the head is as sure about as in-scope ones, but far from any
    # paraphrase: only the cosine can decline them without declining the in-scope ones.
    n = 40
    probs = np.tile(np.array([[0.9, 0.1]], dtype=np.float32), (n, 1))
    labels = np.zeros(n, dtype=np.int64)
    sims = np.tile(np.array([[0.9, 0.3]], dtype=np.float32), (n, 1))
    oos_sims = np.tile(np.array([[0.4, 0.3]], dtype=np.float32), (n, 1))
    _, plain = choose_threshold(probs, labels, probs, 0.5, 0.75)
    assert plain["cv_accuracy_at_threshold"] == 0.0  # declining the OOS declines everything
    t, weighted = choose_threshold(probs, labels, probs, 0.5, 0.75, sims, oos_sims, 8.0)
    assert weighted["cv_accuracy_at_threshold"] == 1.0
    assert weighted["cv_oos_recall"] == 1.0
    assert 0 < t < 0.9


def test_hits_carry_the_cosine_and_decide_uses_it(demo_engine: FaqEngine) -> None:
    rule = demo_engine.manifest.thresholds
    for query in ["How much is Pro?", "recommend a good pasta recipe"]:
        hits = demo_engine.search(query, k=5)
        assert all(h.similarity is not None and -1.0 <= h.similarity <= 1.0001 for h in hits)
        expected = rule.kind(hits[0].score, hits[1].score, hits[0].similarity)
        assert demo_engine.decide(query).kind == expected


def test_build_chooses_the_cosine_weight_by_cross_validation(demo_engine: FaqEngine) -> None:
    manifest = demo_engine.manifest
    by_weight = manifest.calibration["cv_accuracy_at_threshold_by_cos_weight"]
    assert set(by_weight) == {f"{w:g}" for w in COS_WEIGHTS}
    chosen = f"{manifest.thresholds.cos_weight:g}"
    assert by_weight[chosen] == max(by_weight.values())


def test_entry_similarity_is_the_best_retrieved_paraphrase_per_entry() -> None:
    """The vectorised per-entry max agrees with a plain loop, ties and missing rows included."""
    from knowledge.runtime.scoring import entry_similarity

    rng = np.random.default_rng(0)
    for trial in range(200):
        m, depth, n_rows, n_entries = 3, int(rng.integers(1, 40)), 200, int(rng.integers(1, 30))
        row_entry = rng.integers(0, n_entries, n_rows)
        rows = np.stack([rng.permutation(n_rows)[:depth] for _ in range(m)]).astype(np.int64)
        sims = -np.sort(-np.round(rng.random((m, depth)), 1 + trial % 2)).astype(np.float32)
        rows[:, depth - trial % 3 :] = -1  # faiss pads with -1 when it finds fewer
        best, best_row = entry_similarity(sims, rows, row_entry, n_entries)
        for q in range(m):
            retrieved = [(sims[q, j], rows[q, j]) for j in range(depth) if rows[q, j] >= 0]
            floor = min((s for s, _ in retrieved), default=0.0)
            for e in range(n_entries):
                mine = [(s, r) for s, r in retrieved if row_entry[r] == e]
                # faiss lists best first, so the first of an entry's rows is its best
                want = mine[0] if mine else (floor, -1)
                assert (best[q, e], best_row[q, e]) == pytest.approx(want), (trial, q, e)


def test_temperature_scaling_makes_underconfident_scores_honest() -> None:
    """Scores right 95% of the time but averaging 0.5 are sharpened until they average ~0.95."""
    from knowledge.runtime.scoring import fit_temperature, sharpen

    rng = np.random.default_rng(0)
    n, entries = 2000, 10
    labels = rng.integers(0, entries, n)
    top = np.where(rng.random(n) < 0.95, labels, (labels + 1) % entries)
    probs = np.full((n, entries), 0.5 / (entries - 1), dtype=np.float32)
    probs[np.arange(n), top] = 0.5
    t = fit_temperature(probs, labels)
    assert t < 1.0
    calibrated = sharpen(probs, t)
    assert calibrated.max(axis=1).mean() == pytest.approx(0.95, abs=0.02)
    assert np.array_equal(calibrated.argmax(axis=1), probs.argmax(axis=1))  # ranking unchanged


def test_the_build_fits_a_temperature_and_scores_with_it(demo_engine: FaqEngine) -> None:
    thresholds = demo_engine.manifest.thresholds
    assert 0.05 <= thresholds.temperature <= 4.0
    assert "temperature-scaled" in demo_engine.manifest.calibration["method"]
