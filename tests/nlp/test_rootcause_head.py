"""Root-cause head: data files, the fixed dev/test split, training, scoring, save/load."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from nlp.rootcause_head import (BOW_WEIGHT_GRID, COMPLAINT_FLOOR_GRID, LEGACY_BOW_DIM, NO_STAGE,
                                _best_floor, bag_of_lemmas, cause_predictions, fit_head,
                                gold_files, gold_split, load_head, multilabel_report, read_jsonl,
                                save_head, training_files, tune_thresholds)
from nlp.taxonomy import load_taxonomy


def test_shipped_label_files_are_valid_and_cover_every_cause() -> None:
    tax = load_taxonomy()
    causes = {c.id for c in tax.causes}
    stages = {s.id for s in tax.stages}
    for files, min_per_cause in ((training_files(), 30), (gold_files(), 15)):
        assert files, "labelled review files are missing"
        exs = read_jsonl(files)
        assert len({e.id for e in exs}) == len(exs), "duplicate ids"
        counts = Counter(c for e in exs for c in e.causes)
        assert set(counts) == causes, set(counts) ^ causes
        assert min(counts.values()) >= min_per_cause
        assert {e.stage for e in exs} - {None} <= stages
        assert all(not e.causes for e in exs if e.sentiment == "positive")
    train_texts = {e.text for e in read_jsonl(training_files())}
    assert not train_texts & {e.text for e in read_jsonl(gold_files())}, "train/eval overlap"


def test_gold_split_is_fixed_disjoint_and_large_enough() -> None:
    exs = read_jsonl(gold_files())
    dev, test = gold_split(exs)
    dev2, test2 = gold_split(list(reversed(exs)))
    assert {e.id for e in test} == {e.id for e in test2}  # by id, not by order
    assert not {e.id for e in dev} & {e.id for e in test}
    assert len(test) >= 300
    assert {c for e in test for c in e.causes} == {c.id for c in load_taxonomy().causes}


def test_read_jsonl_names_the_bad_line(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text('{"id": "a", "text": "ok", "root_causes": []}\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"x.jsonl:2"):
        read_jsonl([p])


def test_multilabel_report_known_values() -> None:
    r = multilabel_report(["a", "b"], [["a"], ["a", "b"], []], [["a"], ["b"], ["b"]])
    assert r["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert r["per_class"]["b"] == {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1}
    assert (r["micro_precision"], r["micro_recall"], r["micro_f1"]) == (0.6667, 0.6667, 0.6667)
    assert r["exact_match"] == pytest.approx(1 / 3, abs=1e-4)


def test_head_learns_separable_causes_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    causes, stages = ["waiting_time", "staff_attitude"], ["support", NO_STAGE]
    n, dim = 120, 6
    Y = (rng.random((n, 2)) < 0.4).astype(np.float32)
    emb = rng.normal(size=(n, dim)).astype(np.float32) + np.hstack([Y * 3, np.zeros((n, dim - 2))])
    X = np.hstack([emb, np.zeros((n, 4), np.float32)])  # rules + similarity columns unused
    cues = np.zeros((n, 2), np.float32)
    cues[:, 1] = 1
    S = (Y[:, 0] > 0).astype(int) * 0 + (Y[:, 0] == 0).astype(int)
    texts = ["очередь час" if y[0] else "всё нормально" for y in Y]
    B = bag_of_lemmas(texts)
    th, w, floor = tune_thresholds(dim, causes, stages, X, Y, cues, S, B, folds=3, epochs=200)
    assert th.shape == (2,) and ((0.2 <= th) & (th <= 0.7)).all()
    assert w in BOW_WEIGHT_GRID and floor == 0.0   # no complaint mask: no fallback
    head = fit_head(dim, causes, stages, X, Y, cues, S, B=B, epochs=200)
    p, sp = head.predict(emb, X[:, dim:dim + 2], X[:, dim + 2:], cues, texts)
    pred = p >= 0.5
    assert (pred == (Y > 0)).mean() > 0.9
    assert sp.shape == (n, 2) and np.allclose(sp.sum(1), 1, atol=1e-5)
    save_head(head, tmp_path)
    again = load_head(tmp_path)
    assert again.fingerprint == head.fingerprint
    p2, _ = again.predict(emb, X[:, dim:dim + 2], X[:, dim + 2:], cues, texts)
    assert np.allclose(p, p2)
    assert json.loads((tmp_path / "rootcause_head.json").read_text())["causes"] == causes


def test_bow_weight_mixes_the_two_layers() -> None:
    import torch

    rng = np.random.default_rng(1)
    causes, stages = ["waiting_time", "staff_attitude"], ["support", NO_STAGE]
    n, dim = 60, 4
    Y = (rng.random((n, 2)) < 0.5).astype(np.float32)
    emb = rng.normal(size=(n, dim)).astype(np.float32)
    X = np.hstack([emb, np.zeros((n, 4), np.float32)])
    cues = np.tile(np.array([[0, 1]], np.float32), (n, 1))
    texts = ["очередь час" if y[0] else "хамство" for y in Y]
    head = fit_head(dim, causes, stages, X, Y, cues, np.ones(n, int), B=bag_of_lemmas(texts),
                    epochs=50)
    with torch.inference_mode():
        lin = torch.sigmoid(head(torch.from_numpy(X), torch.from_numpy(cues))[0]).numpy()
        bow = torch.sigmoid(head.bow_logits(head.bag(texts))).numpy()
    parts = (emb, X[:, dim:dim + 2], X[:, dim + 2:], cues, texts)
    assert np.allclose(head.predict(*parts)[0], (lin + bow) / 2, atol=1e-6)   # default 0.5
    head.bow_weight.fill_(0.8)
    assert np.allclose(head.predict(*parts)[0], 0.2 * lin + 0.8 * bow, atol=1e-6)
    assert not np.allclose(lin, bow, atol=1e-3)      # the mix is visible


@pytest.mark.parametrize("hidden", [0, 16])
def test_cause_layer_shape_is_saved_and_restored(tmp_path: Path, hidden: int) -> None:
    """A logistic head (as trained before the hidden layer) and a hidden-layer head both
    load back with the same layer and the same answers."""
    rng = np.random.default_rng(2)
    causes, stages = ["waiting_time", "staff_attitude"], ["support", NO_STAGE]
    n, dim = 80, 5
    Y = (rng.random((n, 2)) < 0.4).astype(np.float32)
    emb = rng.normal(size=(n, dim)).astype(np.float32) + np.hstack([Y * 3, np.zeros((n, dim - 2))])
    X = np.hstack([emb, np.zeros((n, 4), np.float32)])
    cues = np.tile(np.array([[0, 1]], np.float32), (n, 1))
    texts = ["очередь" if y[0] else "грубо" for y in Y]
    head = fit_head(dim, causes, stages, X, Y, cues, np.ones(n, int), B=bag_of_lemmas(texts),
                    epochs=50, hidden=hidden)
    assert isinstance(head.cause, torch.nn.Linear) == (hidden == 0)
    save_head(head, tmp_path)
    assert json.loads((tmp_path / "rootcause_head.json").read_text())["cause_hidden"] == hidden
    again = load_head(tmp_path)
    parts = (emb, X[:, dim:dim + 2], X[:, dim + 2:], cues, texts)
    assert again.hidden == hidden and np.allclose(again.predict(*parts)[0], head.predict(*parts)[0])
    p = head.predict(*parts)[0]
    assert ((p >= 0.5) == (Y > 0)).mean() > 0.8   # it learnt the planted causes either way


def test_lemma_bag_is_sparse_hashed_presence_and_tfidf_rows_are_unit() -> None:
    """The sparse bag holds exactly the hashed lemmas and lemma bigrams of each text, and
    the tf-idf rows the layer reads are L2-normalised with the idf weights applied."""
    import zlib

    from nlp.lemmas import lemmatize
    from nlp.rootcause_head import tfidf

    texts = ["Очередь в отделении на час", "", "Хамство!"]
    dim = 1 << 12
    B = bag_of_lemmas(texts, dim)
    assert B.is_sparse and B.shape == (3, dim)
    dense = B.to_dense()
    for i, t in enumerate(texts):
        lem = lemmatize(t)
        feats = lem + [f"{a}_{b}" for a, b in zip(lem, lem[1:])]
        want = {zlib.crc32(f.encode()) % dim for f in feats}
        assert set(torch.nonzero(dense[i]).flatten().tolist()) == want
    assert dense[1].sum() == 0 and dense[2].sum() == 1       # one lemma, no bigram
    idf = torch.rand(dim) + 1
    X = tfidf(B, idf).to_dense()
    assert torch.allclose(X[0].norm(), torch.tensor(1.0)) and X[1].abs().sum() == 0
    cols = torch.nonzero(dense[0]).flatten()
    assert torch.allclose(X[0, cols] / X[0, cols].norm(), idf[cols] / idf[cols].norm())


def test_a_head_saved_before_bow_dim_loads_with_the_old_bag_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    causes, stages = ["waiting_time", "staff_attitude"], ["support", NO_STAGE]
    n, dim = 40, 4
    Y = (rng.random((n, 2)) < 0.5).astype(np.float32)
    X = np.hstack([rng.normal(size=(n, dim)).astype(np.float32), np.zeros((n, 4), np.float32)])
    cues = np.tile(np.array([[0, 1]], np.float32), (n, 1))
    texts = ["очередь" if y[0] else "грубо" for y in Y]
    head = fit_head(dim, causes, stages, X, Y, cues, np.ones(n, int),
                    B=bag_of_lemmas(texts, LEGACY_BOW_DIM), epochs=20, hidden=0)
    save_head(head, tmp_path)
    cfg = json.loads((tmp_path / "rootcause_head.json").read_text())
    assert cfg.pop("bow_dim") == LEGACY_BOW_DIM
    (tmp_path / "rootcause_head.json").write_text(json.dumps(cfg))
    again = load_head(tmp_path)
    parts = (X[:, :dim], X[:, dim:dim + 2], X[:, dim + 2:], cues, texts)
    assert again.bow_dim == LEGACY_BOW_DIM
    assert np.allclose(again.predict(*parts)[0], head.predict(*parts)[0])


def test_threshold_tuning_runs_on_a_bag_as_large_as_the_training_set() -> None:
    """Above ~30k stored entries torch selects sparse rows by another path, which failed
    when the held-out rows of one fold were taken inside inference mode (the first full
    refit crashed on the second fold); 3,000 short reviews reach that path."""
    rng = np.random.default_rng(4)
    words = ["очередь", "час", "хамство", "карта", "банк", "деньги", "приложение", "кредит",
             "списали", "ждать"]
    n, dim = 3000, 4
    texts = [" ".join(rng.choice(words, 12)) for _ in range(n)]
    B = bag_of_lemmas(texts)
    assert B._nnz() > 40_000
    Y = np.array([["очередь" in t, "хамство" in t] for t in texts], dtype=np.float32)
    X = np.hstack([rng.normal(size=(n, dim)).astype(np.float32), np.zeros((n, 4), np.float32)])
    cues = np.tile(np.array([[0, 1]], np.float32), (n, 1))
    th, w, floor = tune_thresholds(dim, ["waiting_time", "staff_attitude"], ["support", NO_STAGE],
                                   X, Y, cues, np.ones(n, int), B, folds=3, epochs=2, hidden=0)
    assert th.shape == (2,) and w in BOW_WEIGHT_GRID


def test_complaint_fallback_adds_the_top_cause_only_where_it_should() -> None:
    p = np.array([[0.30, 0.10],    # complaint, nothing at threshold, top 0.30: fallback
                  [0.30, 0.10],    # same scores, not a complaint: nothing
                  [0.12, 0.08],    # complaint, top below the floor: nothing
                  [0.10, 0.60],    # complaint with a cause already: unchanged
                  [0.05, 0.40]])   # complaint, the second cause is the top one
    th = np.array([0.5, 0.5])
    complaint = np.array([True, False, True, True, True])
    got = cause_predictions(p, th, complaint, 0.15)
    assert got.tolist() == [[True, False], [False, False], [False, False], [False, True],
                            [False, True]]
    assert (cause_predictions(p, th, complaint, 0.0) == (p >= th)).all()   # floor 0: off
    assert (cause_predictions(p, th, None, 0.15) == (p >= th)).all()


def test_complaint_floor_is_chosen_out_of_fold() -> None:
    rng = np.random.default_rng(1)
    n = 400
    Y = np.zeros((n, 3), np.float32)
    Y[np.arange(n), rng.integers(0, 3, n)] = 1          # every complaint has one cause
    p = rng.uniform(0.0, 0.1, (n, 3)).astype(np.float32)
    right = np.flatnonzero(Y)                              # flat indices of the true cause
    p.flat[right] = rng.uniform(0.2, 0.45, n)              # below threshold, but on top
    th = np.full(3, 0.5)
    complaint = np.ones(n, bool)
    floor = _best_floor(p, Y, th, complaint)
    assert floor in COMPLAINT_FLOOR_GRID and floor >= 0.15   # the top cause is always right
    assert cause_predictions(p, th, complaint, floor).sum() == n
    # when the top cause of a causeless complaint is always wrong, the fallback stays off
    wrong = np.roll(Y, 1, axis=1)
    assert _best_floor(p, wrong, th, complaint) == 0.0
    assert _best_floor(p, Y, th, None) == 0.0
