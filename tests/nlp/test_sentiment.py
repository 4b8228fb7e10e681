"""SentimentHead: fit, save, load round trip on synthetic embeddings."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nlp.sentiment import LABELS, HeadLoadError, SentimentHead


def synthetic(n: int = 90, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Three well-separated unit-norm clusters, one per label."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dim)) * 3
    y = [LABELS[i % 3] for i in range(n)]
    X = np.stack([centres[i % 3] + rng.normal(size=dim) * 0.5 for i in range(n)])
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), y


@pytest.mark.parametrize("hidden", [0, 8])
def test_fit_learns_separable_classes(hidden: int) -> None:
    X, y = synthetic()
    head = SentimentHead.fit(X, y, hidden=hidden, epochs=40, batch_size=16)
    labels, probs = head.predict(X)
    assert np.mean(np.array(labels) == np.array(y)) > 0.95
    assert probs.shape == (len(y), 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_save_load_round_trip(tmp_path: Path) -> None:
    X, y = synthetic()
    head = SentimentHead.fit(X, y, hidden=8, epochs=5, batch_size=16)
    head.meta["encoder"] = {"name": "tiny", "fingerprint": "abc123"}
    head.save(tmp_path / "h")
    again = SentimentHead.load(tmp_path / "h")
    l1, p1 = head.predict(X)
    l2, p2 = again.predict(X)
    assert l1 == l2
    np.testing.assert_array_equal(p1, p2)
    assert again.fingerprint == head.fingerprint
    assert again.meta["encoder"]["fingerprint"] == "abc123"
    cfg = json.loads((tmp_path / "h" / "config.json").read_text())
    assert cfg["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert cfg["label2id"] == {"negative": 0, "neutral": 1, "positive": 2}
    assert (tmp_path / "h" / "README.md").is_file()


def test_single_embedding_gives_a_single_label() -> None:
    X, y = synthetic()
    head = SentimentHead.fit(X, y, hidden=0, epochs=20, batch_size=16)
    label, probs = head.predict(X[0])
    assert isinstance(label, str) and probs.shape == (3,)


def test_wrong_dimension_is_explained() -> None:
    X, y = synthetic()
    head = SentimentHead.fit(X, y, hidden=0, epochs=1)
    with pytest.raises(ValueError, match="another encoder"):
        head.predict(np.zeros((2, 7), dtype=np.float32))


def test_missing_class_is_refused() -> None:
    X, _ = synthetic(n=10)
    with pytest.raises(ValueError, match="positive"):
        SentimentHead.fit(X, ["negative", "neutral"] * 5, epochs=1)


def test_load_from_empty_folder_is_actionable(tmp_path: Path) -> None:
    with pytest.raises(HeadLoadError, match="nlp.train"):
        SentimentHead.load(tmp_path)
