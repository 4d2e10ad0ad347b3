"""The builder: incremental re-embedding, no-op builds that never load the model, the manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from knowledge.build import build
from knowledge.build.sources import FaqEntry
from knowledge.runtime.encoders import Encoder
from relay.settings import ROOT

HEAVY = ("torch", "sentence_transformers", "faiss", "sklearn", "tokenizers")


def entries(extra: str = "") -> list[FaqEntry]:
    return [
        FaqEntry(
            id="pro-price",
            answer="Pro costs $8 per user per month." + extra,
            questions=["How much is Pro?", "Pro plan price", "cost of the pro subscription"],
        ),
        FaqEntry(
            id="reset-password",
            answer="Use 'Forgot password' on the sign-in page.",
            questions=["I forgot my password", "reset my password", "can't log in"],
        ),
        FaqEntry(
            id="support-hours",
            answer="Agents: Mon-Fri 8:00-20:00 CET.",
            questions=["When is support open?", "support hours", "talk to a human"],
        ),
    ]


class CountingEncoder(Encoder):
    """The real encoder, counting the sentences it embeds."""

    def __init__(self, base: Encoder) -> None:
        super().__init__(id=base.id, dim=base.dim, backend=base.backend)
        self.base = base
        self.sentences = 0

    def encode(self, texts, *, batch_size=32, progress=False):  # type: ignore[no-untyped-def]
        self.sentences += len(texts)
        return self.base.encode(texts, batch_size=batch_size, progress=progress)


def refuse() -> Encoder:
    raise AssertionError("the model must not be loaded when nothing changed")


def test_rebuild_reembeds_only_the_changed_entry(
    tmp_path: Path, encoder: Encoder, model_path: str
) -> None:
    counting = CountingEncoder(encoder)
    index_dir = tmp_path / "index"
    first = build(
        entries(), index_dir=index_dir, model=model_path, encoder=counting, progress=False
    )
    assert (first.embedded_entries, first.embedded_sentences) == (3, 9)

    changed = entries()
    changed[0] = changed[0].model_copy(
        update={"questions": [*changed[0].questions, "pro monthly fee"]}
    )
    counting.sentences = 0
    second = build(changed, index_dir=index_dir, model=model_path, encoder=counting, progress=False)
    assert second.changed
    assert (second.embedded_entries, second.embedded_sentences) == (1, 4)
    assert counting.sentences == 4

    # An answer-only edit rewrites the index but embeds nothing.
    third = build(
        entries(" VAT excluded."),
        index_dir=index_dir,
        model=model_path,
        encoder=refuse,
        progress=False,
    )
    assert third.changed and third.embedded_entries == 0


def test_no_change_build_does_not_load_the_model(
    tmp_path: Path, encoder: Encoder, model_path: str
) -> None:
    index_dir = tmp_path / "index"
    build(entries(), index_dir=index_dir, model=model_path, encoder=encoder, progress=False)
    again = build(entries(), index_dir=index_dir, model=model_path, encoder=refuse, progress=False)
    assert not again.changed


def test_manifest_records_format_model_type_hashes_and_thresholds(
    tmp_path: Path, encoder: Encoder, model_path: str
) -> None:
    index_dir = tmp_path / "index"
    build(
        entries(),
        index_dir=index_dir,
        model=model_path,
        encoder=encoder,
        oos_texts=["tell me a joke"],
        progress=False,
    )
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["format_version"] == 1
    assert manifest["model_id"] == encoder.id
    assert manifest["index_type"] == "flat"
    assert set(manifest["entries"]) == {"pro-price", "reset-password", "support-hours"}
    assert 0 < manifest["thresholds"]["answer"] < 1
    assert sorted(p.name for p in index_dir.iterdir()) == [
        "head.npz",
        "index.faiss",
        "manifest.json",
        "meta.json",
    ]


def test_cli_no_change_imports_no_model_code(tmp_path: Path, model_path: str) -> None:
    index_dir = tmp_path / "index"
    faq = tmp_path / "faq.yml"
    faq.write_text(
        "- id: hours\n  questions: [When are you open?, support hours]\n  answer: 8-20 CET\n"
        "- id: price\n  questions: [How much is Pro?, pro price]\n  answer: $8\n"
    )
    cmd = [
        sys.executable,
        "-m",
        "knowledge.build",
        "--faq",
        str(faq),
        "--index-dir",
        str(index_dir),
        "--quiet",
    ]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    probe = (
        "import sys; from knowledge.build import main;"
        f"main(['--faq', {str(faq)!r}, '--index-dir', {str(index_dir)!r}]);"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, cwd=ROOT, capture_output=True, text=True
    )
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("index up to date")
    assert lines[1] == "[]"  # (how fast this is, is the benchmark's business: habit 8)


def test_cli_reports_invalid_faq(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("- id: x\n  questions: []\n  answer: a\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "knowledge.build",
            "--faq",
            str(bad),
            "--index-dir",
            str(tmp_path / "i"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "bad.yml: entry 1 (id 'x'): questions:" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "module", ["knowledge.runtime.engine", "knowledge.build", "knowledge.build.sources"]
)
def test_import_builds_nothing_heavy(module: str) -> None:
    probe = f"import sys, {module}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, cwd=ROOT, capture_output=True, text=True
    )
    assert out.stdout.strip() == "[]"


def test_large_indexes_are_ivf_with_near_exact_recall(tmp_path: Path) -> None:
    """Above the threshold the index is IVF; after a write/read it still searches with nprobe
    set and finds (nearly) the exact top 10."""
    import faiss

    from knowledge.build import index_store
    from knowledge.runtime import index as index_files
    from knowledge.tools.synthetic import clustered_vectors, queries_near

    assert index_store.index_type_for(index_store.APPROX_THRESHOLD) == "flat"
    assert index_store.index_type_for(index_store.APPROX_THRESHOLD + 1) == "ivf"
    vectors = clustered_vectors(20_000)
    queries = queries_near(vectors, 100)
    ivf = index_store.make_faiss_index(vectors, "ivf")
    faiss.write_index(ivf, str(tmp_path / "ivf.faiss"))
    loaded = faiss.read_index(str(tmp_path / "ivf.faiss"))
    index_files.configure_search(loaded)
    assert faiss.extract_index_ivf(loaded).nprobe == index_files.IVF_NPROBE
    exact = index_store.make_faiss_index(vectors, "flat")
    _, want = exact.search(queries, 10)
    _, got = loaded.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want, strict=True)])
    assert recall >= 0.95
