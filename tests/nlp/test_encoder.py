"""Encoder on a tiny BERT saved to disk and loaded by path (the real code path)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlp.encoder import Encoder, EncoderLoadError, chop

TEXTS = ["короткий", "текст подлиннее, с запятой", "", "очень " * 20 + "длинный текст", "да"]


@pytest.mark.parametrize("n,size,expected", [
    (0, 3, []), (5, 2, [[0, 1], [2, 3], [4]]), (3, 3, [[0, 1, 2]]), (2, 10, [[0, 1]]),
])
def test_chop(n: int, size: int, expected: list[list[int]]) -> None:
    assert [list(c) for c in chop(list(range(n)), size)] == expected


def test_chop_rejects_zero() -> None:
    with pytest.raises(ValueError):
        list(chop([1], 0))


def test_encode_shape_dtype_and_unit_norm(tiny_encoder: Encoder) -> None:
    X = tiny_encoder.encode(TEXTS)
    assert X.shape == (len(TEXTS), 32) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)


def test_length_sorting_keeps_caller_order(tiny_encoder: Encoder) -> None:
    X = tiny_encoder.encode(TEXTS)
    Y = tiny_encoder.encode(TEXTS[::-1])[::-1]
    np.testing.assert_allclose(X, Y, atol=1e-5)
    single = np.vstack([tiny_encoder.encode([t]) for t in TEXTS])  # no padding at all
    np.testing.assert_allclose(X, single, atol=1e-5)


def test_different_texts_differ(tiny_encoder: Encoder) -> None:
    X = tiny_encoder.encode(["хорошо", "плохо"])
    assert not np.allclose(X[0], X[1])


def test_single_string_is_rejected(tiny_encoder: Encoder) -> None:
    with pytest.raises(TypeError):
        tiny_encoder.encode("текст")  # type: ignore[arg-type]


def test_fingerprint_is_stable_and_weight_sensitive(tiny_encoder_dir: Path,
                                                    tiny_encoder: Encoder,
                                                    tmp_path: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    fp = tiny_encoder.fingerprint
    assert len(fp) == 12 and fp == Encoder(tiny_encoder_dir).fingerprint
    model = AutoModel.from_pretrained(tiny_encoder_dir)
    with __import__("torch").no_grad():
        model.embeddings.word_embeddings.weight[5, 0] += 1.0
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_encoder_dir).save_pretrained(tmp_path)
    assert Encoder(tmp_path).fingerprint != fp


def test_folder_without_config_is_an_actionable_error(tmp_path: Path) -> None:
    with pytest.raises(EncoderLoadError, match="config.json"):
        Encoder(tmp_path)


def test_unknown_hub_id_offline_is_an_actionable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderLoadError, match="HF_HUB_OFFLINE"):
        Encoder("slukh-tests/no-such-model")
