"""The engine on the real demo FAQ: paraphrases found, off-topic declined, hot reload."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from knowledge.build import build
from knowledge.encoder import Encoder
from knowledge.engine import FaqEngine, Hit, IndexMissing
from knowledge.faq import FaqEntry
from knowledge.scoring import Thresholds


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
    t = demo_engine.manifest["thresholds"]["answer"]
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


def test_entry_by_id_for_did_you_mean_choices(demo_engine: FaqEngine) -> None:
    hit = demo_engine.entry("pro-price")
    assert hit is not None and hit.entry_id == "pro-price" and "$8" in hit.answer
    assert hit.score == 1.0
    assert demo_engine.entry("no-such-entry") is None
