"""ONNX export and the int8 backend on tiny classifiers (built and saved by the test)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from nlp.onnx_backend import export_onnx, onnx_cache_dir  # noqa: E402
from nlp.textmodel import TextModel  # noqa: E402
from tests.nlp.test_textmodel import (TEXTS, build_tiny_classifier,  # noqa: E402,F401
                                      tiny_classifier_dir)

MANY = TEXTS + [f"отзыв номер {i}: " + "хорошо " * (i % 7) + "плохо " * (i % 5)
                for i in range(40)]


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("slukh-cache")


@pytest.fixture()
def cache_env(onnx_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SLUKH_CACHE", str(onnx_cache))
    return onnx_cache


def test_fp32_export_round_trip_matches_torch(tiny_classifier_dir: Path, cache_env: Path) -> None:
    ref = TextModel(tiny_classifier_dir, backend="torch", batch_size=4)
    onx = TextModel(tiny_classifier_dir, backend="onnx-fp32", batch_size=4)
    assert onx.backend == "onnx" and onx.backend_tag == "onnx-fp32"
    rl, re_ = ref.run(MANY)
    ol, oe = onx.run(MANY)
    np.testing.assert_allclose(ol, rl, atol=1e-4)
    np.testing.assert_allclose(oe, re_, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(oe, axis=1), 1.0, atol=1e-5)


def test_int8_agrees_with_torch_and_is_tagged(tiny_classifier_dir: Path, cache_env: Path) -> None:
    ref = TextModel(tiny_classifier_dir, backend="torch")
    q = TextModel(tiny_classifier_dir, backend="onnx")
    assert q.backend_tag == "onnx-int8"
    assert q.fingerprint != ref.fingerprint
    assert q.weights_fingerprint == ref.weights_fingerprint
    rl, re_ = ref.run(MANY)
    ql, qe = q.run(MANY)
    assert ql.shape == rl.shape and qe.shape == re_.shape
    assert np.mean(ql.argmax(1) == rl.argmax(1)) >= 0.8
    assert np.mean((qe * re_).sum(1)) > 0.95
    # caller order is kept by the onnx path too
    rev_l, _ = q.run(MANY[::-1])
    np.testing.assert_allclose(ql, rev_l[::-1], atol=1e-5)


def test_export_is_cached_once_under_the_fingerprint(tiny_classifier_dir: Path,
                                                     cache_env: Path) -> None:
    q = TextModel(tiny_classifier_dir, backend="onnx-int8")
    folder = onnx_cache_dir(q.weights_fingerprint, quantize=True)
    assert folder.parent == cache_env / "onnx" and q.onnx_path == folder / "model.onnx"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["quantized"] and meta["max_abs_diff_fp32_vs_torch"] < 1e-3
    assert not (folder / "model.fp32.onnx").exists()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp dirs
    mtime = q.onnx_path.stat().st_mtime_ns
    assert TextModel(tiny_classifier_dir, backend="onnx-int8").onnx_path.stat().st_mtime_ns == mtime


def test_export_onnx_writes_both_outputs(tmp_path: Path) -> None:
    import onnxruntime as ort

    model_dir = build_tiny_classifier(tmp_path / "m", "bert")
    path = export_onnx(model_dir, tmp_path / "out", quantize=False)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["logits", "text_embedding"]
    ids = np.array([[0, 7, 8, 9, 2], [0, 7, 2, 1, 1]], dtype=np.int64)
    mask = (ids != 1).astype(np.int64)
    logits, emb = sess.run(None, {"input_ids": ids, "attention_mask": mask})
    assert logits.shape == (2, 3) and emb.shape == (2, 32)


def test_auto_is_onnx_fp32_on_cpu_and_int8_is_opt_in(tiny_classifier_dir: Path,
                                                      cache_env: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUKH_NLP_BACKEND", raising=False)
    assert TextModel(tiny_classifier_dir, device="cpu").backend_tag == "onnx-fp32"
    monkeypatch.setenv("SLUKH_NLP_BACKEND", "onnx-int8")
    assert TextModel(tiny_classifier_dir, device="cpu").backend_tag == "onnx-int8"


def test_auto_falls_back_to_torch_when_export_fails(tiny_classifier_dir: Path, cache_env: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import nlp.onnx_backend as ob

    def broken(*a: object, **k: object) -> Path:
        raise ob.OnnxExportError("exporter broke")

    monkeypatch.delenv("SLUKH_NLP_BACKEND", raising=False)
    monkeypatch.setattr(ob, "ensure_onnx", broken)
    assert TextModel(tiny_classifier_dir, device="cpu").backend_tag == "torch-fp32"
    with pytest.raises(ob.OnnxExportError):
        TextModel(tiny_classifier_dir, backend="onnx")
