"""Train the sentiment head on the shared Russian data and write a versioned artifact.

Sources (see /work/shared/data/README.md): RuSentiTweet train (positive/negative/neutral;
speech and skip dropped), RuSentNE-2023 organisation sentences (train + labelled
validation; −1/0/1), and SentiRuEval-2015 restaurant reviews whose overall ("Whole")
sentiment is positive or negative — the only review-style texts available. Official test
splits are never read. A stratified 15% of the pooled data is held out *before*
training and used only to report metrics, never to choose settings.

Embeddings are cached as ``<cache>/embeddings/<encoder fp>-<data hash>.npz``, so a rerun
(other seed, other head size) costs seconds.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from nlp.encoder_build import slukh_cache
from nlp.sentiment import LABELS, SentimentHead

log = logging.getLogger(__name__)
SHIPPED_DIR = Path(__file__).parent / "models" / "sentiment-head-v1"
_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"@\w+")
_NE_LABEL = {"-1": "negative", "0": "neutral", "1": "positive"}


class TrainingDataError(FileNotFoundError):
    """The shared sentiment data folder lacks a file the trainer needs."""


def clean(text: str) -> str:
    """Drop tweet noise (links, @handles) that reviews do not have."""
    return " ".join(_MENTION.sub("@user", _URL.sub("", text)).split())


def _need(path: Path) -> Path:
    if not path.is_file():
        raise TrainingDataError(f"missing training file {path}; point data_dir at the shared "
                                "sentiment folder (e.g. /work/shared/data/sentiment)")
    return path


def load_examples(data_dir: Path) -> tuple[list[str], list[str], list[str]]:
    """(texts, labels, source) pooled from the three sources, deduplicated by text."""
    rows: dict[str, tuple[str, str]] = {}
    conflicts: set[str] = set()

    def add(text: str, label: str, source: str) -> None:
        text = clean(text)
        if not text:
            return
        if text in rows and rows[text][0] != label:
            conflicts.add(text)
        rows.setdefault(text, (label, source))

    with open(_need(data_dir / "rusentitweet_train.csv"), encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["label"] in LABELS:
                add(r["text"], r["label"], "rusentitweet")
    for name in ("train_data.csv", "validation_data_labeled.csv"):
        with open(_need(data_dir / "rusentne2023" / name), encoding="utf-8") as fh:
            for r in csv.DictReader(fh, delimiter="\t"):
                if r["entity_tag"] == "ORGANIZATION" and r["label"] in _NE_LABEL:
                    add(r["sentence"], _NE_LABEL[r["label"]], "rusentne2023")
    xml = data_dir / "sentirueval2015_restaurants" / "SentiRuEval_rest_markup_train.xml"
    for review in ET.parse(_need(xml)).getroot().iter("review"):
        whole = [c.get("sentiment") for c in review.iter("category") if c.get("name") == "Whole"]
        if whole and whole[0] in ("positive", "negative"):
            add(review.findtext("text") or "", whole[0], "sentirueval2015")
    keep = [(t, lab, src) for t, (lab, src) in rows.items() if t not in conflicts]
    log.info("%d examples (%d dropped: same text, different labels)", len(keep), len(conflicts))
    texts, labels, sources = (list(x) for x in zip(*keep))
    return texts, labels, sources


def stratified_split(labels: list[str], frac: float = 0.15, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held-out) with ``frac`` of every class held out."""
    rng = np.random.default_rng(seed)
    y = np.array(labels)
    held = []
    for lab in sorted(set(labels)):
        idx = np.flatnonzero(y == lab)
        rng.shuffle(idx)
        held.append(idx[: max(1, round(frac * len(idx)))])
    held_idx = np.sort(np.concatenate(held))
    train_idx = np.setdiff1d(np.arange(len(y)), held_idx)
    return train_idx, held_idx


def evaluate(y_true: list[str], y_pred: list[str], labels: tuple[str, ...] = LABELS
             ) -> dict[str, Any]:
    """Macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    k = {lab: i for i, lab in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(y_true, y_pred):
        cm[k[t], k[p]] += 1
    per = {}
    for lab, i in k.items():
        tp = cm[i, i]
        prec = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        rec = tp / cm[i].sum() if cm[i].sum() else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[lab] = {"precision": round(float(prec), 4), "recall": round(float(rec), 4),
                    "f1": round(float(f1), 4), "support": int(cm[i].sum())}
    return {"macro_f1": round(float(np.mean([v["f1"] for v in per.values()])), 4),
            "accuracy": round(float(np.trace(cm) / max(1, cm.sum())), 4),
            "per_class": per,
            "confusion_matrix": {"labels": list(labels), "rows_true": cm.tolist()}}


def embed_cached(encoder: Any, texts: list[str], cache_dir: Path
                 ) -> tuple[np.ndarray, float | None]:
    """Encode ``texts`` once per (encoder fingerprint, data); reuse the npz afterwards.

    Returns the embeddings and the encoding time in seconds (``None`` when cached).
    """
    data_hash = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:12]
    path = cache_dir / f"{encoder.fingerprint}-{data_hash}.npz"
    if path.is_file():
        log.info("embeddings from cache %s", path)
        return np.load(path)["X"], None
    t0 = time.perf_counter()
    X = encoder.encode(texts)
    secs = time.perf_counter() - t0
    log.info("encoded %d texts in %.0fs (%.0f texts/s)", len(texts), secs, len(texts) / secs)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, X=X)
    tmp.replace(path)
    return X, round(secs, 1)


def train_sentiment(data_dir: Path, out_dir: Path, encoder: str | Any = "default", seed: int = 0,
                    hidden: int = 256, epochs: int = 60, holdout: float = 0.15,
                    cache_dir: Path | None = None) -> dict[str, Any]:
    """Train, evaluate on the own held-out split, save the head; return the metrics dict.

    ``encoder`` is a model id/path for :class:`nlp.encoder.Encoder` or an object with
    ``encode``/``fingerprint``/``name`` (tests pass a tiny one).
    """
    t0 = time.perf_counter()
    if isinstance(encoder, (str, Path)):
        from nlp.encoder import Encoder

        encoder = Encoder(encoder)
    texts, labels, sources = load_examples(Path(data_dir))
    X, embed_s = embed_cached(encoder, texts, Path(cache_dir or slukh_cache() / "embeddings"))
    tr, ho = stratified_split(labels, holdout, seed)
    head = SentimentHead.fit(X[tr], [labels[i] for i in tr], hidden=hidden, epochs=epochs,
                             seed=seed)
    pred, _ = head.predict(X[ho])
    metrics = evaluate([labels[i] for i in ho], list(pred))
    counts: dict[str, dict[str, int]] = {}
    for lab, src in zip(labels, sources):
        counts.setdefault(src, {}).setdefault(lab, 0)
        counts[src][lab] += 1
    wall = round(time.perf_counter() - t0, 1)
    head.meta.update({
        "encoder": {"name": _encoder_name(encoder),
                    "fingerprint": encoder.fingerprint, "prefix": getattr(encoder, "prefix", "")},
        "training_data": {"sources": counts, "n_train": int(len(tr)), "n_heldout": int(len(ho)),
                          "heldout": f"stratified {holdout:.0%} of the pooled data, seed {seed}"},
        "metrics_heldout": metrics, "wall_time_s": wall,
        "embedding_time_s": embed_s if embed_s is not None else "cached"})
    head.save(out_dir, card=_card(head.config()))
    log.info("held-out macro-F1 %.3f; saved %s (%.0fs)", metrics["macro_f1"], out_dir, wall)
    return {"out_dir": str(out_dir), "wall_time_s": wall, **metrics}


def _encoder_name(encoder: Any) -> str:
    name = str(getattr(encoder, "name", encoder))
    path = getattr(encoder, "path", None)
    return f"{name} ({Path(path).name})" if name == "default" and path else name


def _card(cfg: dict[str, Any]) -> str:
    m, enc, data = cfg["metrics_heldout"], cfg["encoder"], cfg["training_data"]
    rows = "\n".join(f"| {lab} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | "
                     f"{v['support']} |" for lab, v in m["per_class"].items())
    cm = "\n".join(f"| {lab} | " + " | ".join(map(str, r)) + " |"
                   for lab, r in zip(m["confusion_matrix"]["labels"],
                                     m["confusion_matrix"]["rows_true"]))
    hp = cfg.get("hyperparameters", {})
    kind = f"one-hidden-layer MLP ({cfg['hidden']} units)" if cfg["hidden"] else "linear"
    order = ", ".join(m["confusion_matrix"]["labels"])
    return f"""# Slukh sentiment head v1 (negative / neutral / positive)

A {kind} head over frozen, L2-normalised, mean-pooled embeddings of `{enc['name']}` (fingerprint
`{enc['fingerprint']}`, input prefix `{enc['prefix']}`). Use it only with that encoder:
`nlp.labeller.Labeller` refuses a mismatch. Head fingerprint `{cfg['fingerprint']}`.

## Training data
{json.dumps(data['sources'], ensure_ascii=False)} (RuSentiTweet: research use; RuSentNE-2023:
MIT; SentiRuEval-2015: research data). Tweets lose links and @handles. {data['n_train']}
examples train the head; {data['n_heldout']} ({data['heldout']}) are held out and used
only for the figures below. No official test split was read. Hyperparameters (fixed in
advance, not tuned): {json.dumps(hp)}.

## Held-out results
Macro-F1 **{m['macro_f1']:.3f}**, accuracy {m['accuracy']:.3f}.

| class | precision | recall | F1 | support |
|---|---|---|---|---|
{rows}

Confusion matrix (rows = true, columns = predicted, order {order}):

| true \\ pred | {' | '.join(m['confusion_matrix']['labels'])} |
|---|---|---|---|
{cm}

Wall time on 2 CPU cores: {cfg['wall_time_s']} s in all, of which encoding the texts
{cfg['embedding_time_s']} s (the rest is loading and fitting the head).

## Limits
Trained on tweets and news sentences plus ~160 restaurant reviews, not on bank or shop
reviews: expect lower accuracy on long, mixed reviews. For reference, RuBERT-base
fine-tuned reaches macro-F1 0.655 on RuSentiTweet's official test split (Smetanin 2022);
the figure above is on a different (pooled) split and not directly comparable.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nlp.train", description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=Path("/work/shared/data/sentiment"))
    ap.add_argument("--out-dir", type=Path, default=SHIPPED_DIR)
    ap.add_argument("--encoder", default="default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    res = train_sentiment(args.data_dir, args.out_dir, args.encoder, args.seed, args.hidden,
                          args.epochs)
    print(json.dumps(res, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
