"""train_sentiment end to end on a tiny encoder and a tiny copy of the data layout."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from nlp.train import TrainingDataError, evaluate, load_examples, stratified_split, train_sentiment

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


def test_load_examples_maps_and_filters(tmp_path: Path) -> None:
    texts, labels, sources = load_examples(make_data(tmp_path))
    assert len(texts) == 30 + 2 + 1  # speech/skip, PERSON rows and "both" reviews dropped
    assert "речь" not in texts and not any("https://" in t for t in texts)
    assert dict(zip(texts, labels))["Банк Заря обанкротился"] == "negative"
    assert set(sources) == {"rusentitweet", "rusentne2023", "sentirueval2015"}


def test_missing_file_is_actionable(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="rusentitweet_train.csv"):
        load_examples(tmp_path)


def test_stratified_split_holds_out_every_class() -> None:
    labels = ["a"] * 20 + ["b"] * 40 + ["c"] * 7
    tr, ho = stratified_split(labels, 0.15, seed=1)
    assert len(set(tr) & set(ho)) == 0 and len(tr) + len(ho) == len(labels)
    assert sorted(labels[i] for i in ho) == ["a"] * 3 + ["b"] * 6 + ["c"]


def test_evaluate_known_confusion() -> None:
    m = evaluate(["negative", "negative", "neutral", "positive"],
                 ["negative", "neutral", "neutral", "positive"])
    assert m["confusion_matrix"]["rows_true"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert m["per_class"]["negative"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667,
                                          "support": 2}
    assert m["macro_f1"] == round((0.6667 + 0.6667 + 1.0) / 3, 4)


def test_train_writes_artifact_and_reuses_embedding_cache(tmp_path: Path, tiny_encoder) -> None:
    (tmp_path / "data").mkdir()
    data = make_data(tmp_path / "data")
    out, cache = tmp_path / "head", tmp_path / "emb"
    res = train_sentiment(data, out, encoder=tiny_encoder, hidden=8, epochs=3, cache_dir=cache)
    assert 0 <= res["macro_f1"] <= 1 and set(res["per_class"]) == {"negative", "neutral",
                                                                     "positive"}
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["encoder"]["fingerprint"] == tiny_encoder.fingerprint
    assert cfg["training_data"]["n_heldout"] >= 3
    assert sum((out / f).stat().st_size for f in ("head.safetensors", "config.json",
                                                  "README.md")) < 1_000_000
    assert "Macro-F1" in (out / "README.md").read_text()
    assert len(list(cache.glob("*.npz"))) == 1
    train_sentiment(data, tmp_path / "head2", encoder=tiny_encoder, hidden=8, epochs=3,
                    cache_dir=cache)
    cfg2 = json.loads((tmp_path / "head2" / "config.json").read_text())
    assert cfg2["embedding_time_s"] == "cached"
