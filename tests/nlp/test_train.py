"""Fine-tuning, merging and the root-cause head end to end on a tiny encoder and a tiny
copy of the shared data layout (the real 2-core run is `slukh train`)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import numpy as np
import torch

from nlp.finetune import TARGET3, TWEET5, FinetuneConfig, _pad, load_splits, train_and_save
from nlp.train import TrainingDataError, evaluate, stratified_split

POS = ["отлично", "супер, спасибо", "очень рад", "прекрасно работает", "лучший сервис",
       "всё понравилось", "класс", "молодцы", "восторг", "люблю"]
NEG = ["ужасно", "кошмар", "отвратительно", "хуже некуда", "обман", "позор", "ненавижу",
       "никогда больше", "жуть", "плохо"]
NEU = ["сегодня вторник", "банк на углу", "курс доллара", "открыл счёт", "новости дня",
       "погода облачно", "адрес офиса", "часы работы", "номер карты", "город москва"]


def make_data(root: Path) -> Path:
    with open(root / "rusentitweet_train.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label", "id"])
        for lab, texts in (("positive", POS), ("negative", NEG), ("neutral", NEU)):
            for i, t in enumerate(texts):
                w.writerow([f"{t} https://t.co/x{i} @user{i}", lab, i])
        w.writerow(["речь", "speech", 99])
        w.writerow(["мусор", "skip", 100])
    ne = root / "rusentne2023"
    ne.mkdir()
    head = "sentence\tentity\tentity_tag\tentity_pos_start_rel\tentity_pos_end_rel\tlabel\n"
    (ne / "train_data.csv").write_text(
        head + "Банк Заря обанкротился\tЗаря\tORGANIZATION\t5\t9\t-1\n"
        "Иван пришёл\tИван\tPERSON\t0\t4\t0\n", encoding="utf-8")
    (ne / "validation_data_labeled.csv").write_text(
        head + "Банк Заря получил премию\tЗаря\tORGANIZATION\t5\t9\t1\n", encoding="utf-8")
    sr = root / "sentirueval2015_restaurants"
    sr.mkdir()
    (sr / "SentiRuEval_rest_markup_train.xml").write_text(
        '<?xml version="1.0" ?><reviews><review id="1"><text>Вкусно и уютно</text>'
        '<categories><category name="Whole" sentiment="positive"/></categories></review>'
        '<review id="2"><text>Так себе</text><categories>'
        '<category name="Whole" sentiment="both"/></categories></review></reviews>',
        encoding="utf-8")
    return root


def test_load_splits_maps_holds_out_and_cleans(tmp_path: Path) -> None:
    s = load_splits(make_data(tmp_path))
    tweets = [e for e in s.train if e.source == "rusentitweet"]
    held = s.held["rusentitweet"]
    assert len(tweets) + len(held) == 32  # all five classes kept for the 5-class head
    assert {TWEET5[e.y5] for e in held} == set(TWEET5)  # every class held out
    assert not any("https://" in e.text or "@user1" in e.text for e in tweets + held)
    speech = [e for e in held if TWEET5[e.y5] == "speech"]
    assert speech and speech[0].y3 == -1  # speech/skip train only the 5-class head
    ne_train = [e for e in s.train if e.source == "rusentne2023"]
    assert [e.text for e in ne_train][0] == "Заря | Банк Заря обанкротился"
    assert TARGET3[ne_train[0].y3] == "negative"
    assert [TARGET3[e.y3] for e in s.held["rusentne2023"]] == ["positive"]


def test_missing_file_is_actionable(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="rusentitweet_train.csv"):
        load_splits(tmp_path)


def test_stratified_split_holds_out_every_class() -> None:
    labels = ["a"] * 20 + ["b"] * 10 + ["c"] * 3
    tr, ho = stratified_split(labels, 0.2, seed=1)
    assert sorted(np.concatenate([tr, ho]).tolist()) == list(range(33))
    assert {labels[i] for i in ho} == {"a", "b", "c"}


def test_evaluate_known_confusion() -> None:
    m = evaluate(["negative", "negative", "positive", "neutral"],
                 ["negative", "positive", "positive", "negative"], TARGET3)
    assert m["confusion_matrix"]["rows_true"] == [[1, 0, 1], [1, 0, 0], [0, 0, 1]]
    assert m["per_class"]["negative"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5,
                                          "support": 2}
    assert m["macro_f1"] == pytest.approx((0.5 + 0 + 2 / 3) / 3, abs=1e-4)


def test_finetune_save_merge_gives_the_same_logits(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    """The merged BertForSequenceClassification must reproduce the trained model."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from nlp import finetune
    from nlp.sentiment_model import ensure_sentiment_model

    data = make_data(tmp_path)
    captured = {}
    real = finetune.finetune

    def spy(*a, **kw):
        out = real(*a, **kw)
        captured["model"], captured["tok"] = out[0], out[1]
        return out

    finetune.finetune = spy
    try:
        cfg = train_and_save(data, tmp_path / "art", FinetuneConfig(epochs=2, batch_size=8, r=4),
                             encoder=str(tiny_encoder_dir))
    finally:
        finetune.finetune = real
    assert {p.name for p in (tmp_path / "art").iterdir()} >= {
        "adapters.safetensors", "heads.safetensors", "config.json"}
    assert cfg["metrics_heldout"]["rusentitweet_5class"]["per_class"].keys() == set(TWEET5)
    model, tok = captured["model"], captured["tok"]
    # Training must have moved the adapters away from their zero start.
    assert any(float(p.detach().abs().sum()) > 0 for n, p in model.named_parameters()
               if "lora_B" in n)
    texts = ["query: отлично", "query: Заря | ужасно и долго"]
    ids, mask = _pad(tok(texts)["input_ids"], tok.pad_token_id)
    model.eval()
    with torch.no_grad():
        z5, z3 = model(ids, mask)
    for task, want in (("target3", z3), ("tweet5", z5)):
        folder = ensure_sentiment_model(tmp_path / "art", task, cache=tmp_path / "cache")
        clf = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        assert list(clf.config.id2label.values()) == list(TARGET3 if task == "target3" else TWEET5)
        with torch.no_grad():
            got = clf(input_ids=ids, attention_mask=mask).logits
        # fp16 adapters: close, not bit-identical
        assert torch.allclose(got, want, atol=2e-2), (task, got, want)
        assert AutoTokenizer.from_pretrained(folder)("ок")["input_ids"]
    again = ensure_sentiment_model(tmp_path / "art", "target3", cache=tmp_path / "cache")
    assert again == ensure_sentiment_model(tmp_path / "art", "target3", cache=tmp_path / "cache")


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_both_precisions_train_the_adapters_and_say_which_ran(tmp_path: Path,
                                                              tiny_encoder_dir: Path,
                                                              precision: str) -> None:
    from nlp.finetune import finetune

    model, _, report = finetune(make_data(tmp_path), tiny_encoder_dir,
                                FinetuneConfig(epochs=1, batch_size=8, r=2, precision=precision),
                                progress=False)
    assert report["precision"] == precision
    moved = [float(p.detach().abs().sum()) for n, p in model.named_parameters() if "lora_B" in n]
    assert moved and max(moved) > 0
    assert all(p.dtype == torch.float32 for p in model.parameters())   # fp32 master weights


def test_precision_must_be_named() -> None:
    from nlp.finetune import use_bf16

    assert use_bf16("fp32") is False and use_bf16("bf16") is True
    with pytest.raises(ValueError, match="precision"):
        use_bf16("fp16")


def test_adapters_for_another_encoder_are_refused(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    from nlp.sentiment_model import ArtifactError, ensure_sentiment_model

    train_and_save(make_data(tmp_path), tmp_path / "art", FinetuneConfig(epochs=1, r=2),
                   encoder=str(tiny_encoder_dir))
    cfg_path = tmp_path / "art" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_encoder"]["fingerprint"] = "000000000000"
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ArtifactError, match="retrain"):
        ensure_sentiment_model(tmp_path / "art", cache=tmp_path / "cache")


def test_publishing_figures_keeps_the_model_version(tmp_path: Path) -> None:
    from nlp.sentiment_model import ADAPTERS, CONFIG, HEADS, artifact_fingerprint

    (tmp_path / ADAPTERS).write_bytes(b"a")
    (tmp_path / HEADS).write_bytes(b"h")
    (tmp_path / CONFIG).write_text(json.dumps({"lora": {"r": 16}}), encoding="utf-8")
    before = artifact_fingerprint(tmp_path)
    (tmp_path / CONFIG).write_text(json.dumps({"lora": {"r": 16}, "evaluation": {"f1": 0.6},
                                               "rootcause": {"n_train": 3}}), encoding="utf-8")
    assert artifact_fingerprint(tmp_path) == before
    (tmp_path / CONFIG).write_text(json.dumps({"lora": {"r": 8}}), encoding="utf-8")
    assert artifact_fingerprint(tmp_path) != before
