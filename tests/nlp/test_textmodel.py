"""TextModel on tiny BERT / XLM-R classifiers saved to disk and loaded by path."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlp.encoder import EncoderLoadError
from nlp.textmodel import TextModel, length_batches
from tests.nlp.conftest import build_tiny_encoder

TEXTS = ["короткий", "текст подлиннее, с запятой", "", "очень " * 20 + "длинный текст", "да",
         "банк закрыл отделение, очередь на час", "всё понравилось!"]
LABELS = {0: "negative", 1: "neutral", 2: "positive"}


def build_tiny_classifier(out: Path, model_type: str = "bert") -> Path:
    """A 2-layer, 32-dim ``*ForSequenceClassification`` with conftest's tiny tokenizer."""
    import torch
    from transformers import (AutoTokenizer, BertConfig, BertForSequenceClassification,
                              XLMRobertaConfig, XLMRobertaForSequenceClassification)

    tok_dir = build_tiny_encoder(out.parent / f"{out.name}-tok")
    tok = AutoTokenizer.from_pretrained(tok_dir)
    common = dict(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                  num_attention_heads=2, intermediate_size=64, num_labels=3, id2label=LABELS,
                  label2id={v: k for k, v in LABELS.items()}, pad_token_id=1)
    torch.manual_seed(0)
    if model_type == "bert":
        model = BertForSequenceClassification(BertConfig(max_position_embeddings=64, **common))
    else:
        model = XLMRobertaForSequenceClassification(
            XLMRobertaConfig(max_position_embeddings=66, **common))
    with torch.no_grad():  # larger head weights: logit margins big enough to compare argmax
        for p in model.classifier.parameters():
            p.mul_(50.0)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session", params=["bert", "xlm-roberta"])
def tiny_classifier_dir(request: pytest.FixtureRequest,
                        tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp(request.param) / "model", request.param)


@pytest.fixture(scope="session")
def tiny_torch(tiny_classifier_dir: Path) -> TextModel:
    return TextModel(tiny_classifier_dir, backend="torch", device="cpu", batch_size=3)


def _reference(model_dir: Path, texts: list[str], prefix: str = "query: "
               ) -> tuple[np.ndarray, np.ndarray]:
    """One text at a time, no padding: plain model forward + manual mean pooling."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    logits, emb = [], []
    for t in texts:
        enc = tok(prefix + t, return_tensors="pt", truncation=True, max_length=64)
        with torch.no_grad():
            out = model(**enc, output_hidden_states=True)
        h = out.hidden_states[-1][0]
        v = h.mean(0)
        logits.append(out.logits[0].numpy())
        emb.append((v / v.norm()).numpy())
    return np.array(logits), np.array(emb)


@pytest.mark.parametrize("lengths,size,budget,expected", [
    ([5, 4, 3, 2], 2, 100, [[0, 1], [2, 3]]),
    ([5, 4, 3, 2], 10, 10, [[0, 1], [2, 3]]),   # 3 * 5 > 10 padded tokens
    ([50, 1], 10, 10, [[0], [1]]),              # a text over budget still gets a batch
    ([], 4, 100, []),
])
def test_length_batches(lengths: list[int], size: int, budget: int,
                        expected: list[list[int]]) -> None:
    assert list(length_batches(range(len(lengths)), lengths, size, budget)) == expected


def test_shapes_labels_and_unit_norm(tiny_torch: TextModel) -> None:
    logits, emb = tiny_torch.run(TEXTS)
    assert logits.shape == (len(TEXTS), 3) and logits.dtype == np.float32
    assert emb.shape == (len(TEXTS), 32) and emb.dtype == np.float32
    assert tiny_torch.labels == ["negative", "neutral", "positive"] and tiny_torch.dim == 32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert tiny_torch.backend == "torch" and tiny_torch.backend_tag == "torch-fp32"


def test_matches_plain_forward_and_manual_pooling(tiny_torch: TextModel,
                                                  tiny_classifier_dir: Path) -> None:
    logits, emb = tiny_torch.run(TEXTS)
    ref_logits, ref_emb = _reference(tiny_classifier_dir, TEXTS)
    np.testing.assert_allclose(logits, ref_logits, atol=1e-4)
    np.testing.assert_allclose(emb, ref_emb, atol=1e-5)


def test_caller_order_survives_length_sorting(tiny_torch: TextModel) -> None:
    logits, emb = tiny_torch.run(TEXTS)
    rl, re_ = tiny_torch.run(TEXTS[::-1])
    np.testing.assert_allclose(logits, rl[::-1], atol=1e-5)
    np.testing.assert_allclose(emb, re_[::-1], atol=1e-5)
    assert tiny_torch.predict(TEXTS) == [tiny_torch.labels[i] for i in logits.argmax(1)]


def test_empty_list_and_single_string(tiny_torch: TextModel) -> None:
    logits, emb = tiny_torch.run([])
    assert logits.shape == (0, 3) and emb.shape == (0, 32)
    with pytest.raises(TypeError):
        tiny_torch.run("текст")  # type: ignore[arg-type]


def test_fingerprint_names_weights_and_backend(tiny_torch: TextModel,
                                               tiny_classifier_dir: Path) -> None:
    again = TextModel(tiny_classifier_dir, backend="torch")
    assert len(tiny_torch.weights_fingerprint) == 12
    assert again.fingerprint == tiny_torch.fingerprint
    assert tiny_torch.fingerprint == f"{tiny_torch.weights_fingerprint}-torch-fp32"


def test_missing_folder_and_offline_hub_id_are_clear_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EncoderLoadError, match="config.json"):
        TextModel(tmp_path, backend="torch")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderLoadError, match="HF_HUB_OFFLINE"):
        TextModel("slukh-tests/no-such-classifier", backend="torch")


def test_plain_encoder_folder_is_rejected(tiny_encoder_dir: Path) -> None:
    with pytest.raises(EncoderLoadError, match="sequence-classification"):
        TextModel(tiny_encoder_dir, backend="torch")


def test_unknown_backend_is_rejected(tiny_classifier_dir: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="backend"):
        TextModel(tiny_classifier_dir, backend="tensorflow")
    monkeypatch.setenv("SLUKH_NLP_BACKEND", "torch")  # the opt-out of ONNX for "auto"
    assert TextModel(tiny_classifier_dir).backend_tag == "torch-fp32"
