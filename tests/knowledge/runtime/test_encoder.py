"""The encoder backends (numpy, ONNX Runtime, sentence-transformers) give the same vectors."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.build.onnx_export import export
from knowledge.runtime.encoders import Encoder, load_encoder, model_id
from knowledge.runtime.encoders.onnx_bert import export_path

SENTENCES = [
    "hi",
    "How much does the Pro plan cost per user?",
    "my card got declined at the supermarket this morning and I have no idea why, can you help",
    "Wo ist meine Rechnung?",
    "🙂 thanks!!",
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory, model_path: str) -> Path:
    cache = tmp_path_factory.mktemp("models")
    export(Path(model_path), export_path(cache, model_id(model_path)))
    return cache


def test_numpy_encoder_matches_sentence_transformers(encoder: Encoder, model_path: str) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(model_path, device="cpu").encode(
        SENTENCES, normalize_embeddings=True
    )
    assert encoder.backend == "numpy"
    cosines = (encoder.encode(SENTENCES) * reference).sum(axis=1)
    assert cosines.min() > 0.99999


def test_onnx_export_gives_the_numpy_vectors(
    onnx_cache: Path, encoder: Encoder, model_path: str
) -> None:
    onnx = load_encoder(model_path, cache_dir=onnx_cache)
    assert onnx.backend == "onnx" and onnx.id == encoder.id  # same vectors: no re-embedding
    # A padded batch (mixed lengths) and the one-query path both agree with numpy.
    batch = (onnx.encode(SENTENCES, batch_size=8) * encoder.encode(SENTENCES)).sum(axis=1)
    one = (onnx.encode_one(SENTENCES[2]) * encoder.encode_one(SENTENCES[2])).sum()
    assert batch.min() > 0.99999 and one > 0.99999


def test_without_an_export_auto_falls_back_to_numpy_and_onnx_says_how(
    tmp_path: Path, model_path: str
) -> None:
    assert load_encoder(model_path, cache_dir=tmp_path).backend == "numpy"
    with pytest.raises(ValueError, match=r"python -m knowledge\.build\.onnx_export"):
        load_encoder(model_path, cache_dir=tmp_path, backend="onnx")
