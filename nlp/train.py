"""``slukh train``: fine-tune the sentiment adapters, then fit the root-cause head.

Step 1 (:mod:`nlp.finetune`, minutes on 2 cores): LoRA adapters + sentiment heads on the
shared Russian data; official test splits are never read, own held-out splits are kept.
Step 2 (seconds): the root-cause / journey-stage head (:mod:`nlp.rootcause_head`) on the
merged model's embeddings of the labelled reviews in ``nlp/data/``, the *dev* half of
the hand-labelled set in ``nlp/eval/data/`` and the analysts' corrections
(``label_feedback``). The *test* half is only scored, by ``slukh eval``.

Everything lands in one artifact folder (default ``nlp/models/slukh-sentiment-v2``).
"""
from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from nlp.rootcause_head import (NO_STAGE, REVIEW_SENTIMENTS, CauseExample, bag_of_lemmas,
                                fit_head, fit_review, gold_files, gold_split, read_jsonl,
                                save_head, training_files, tune_thresholds)

log = logging.getLogger(__name__)
_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"@\w+")


class TrainingDataError(FileNotFoundError):
    """The shared sentiment data folder lacks a file the trainer needs."""


def clean(text: str) -> str:
    """Drop tweet noise (links, @handles) that reviews do not have."""
    return " ".join(_MENTION.sub("@user", _URL.sub("", text)).split())


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


def evaluate(y_true: list[str], y_pred: list[str], labels: tuple[str, ...]
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


def cause_training_set(feedback: list[dict[str, Any]] | None = None) -> list[CauseExample]:
    """Labelled reviews + the dev half of the gold set + analyst corrections."""
    dev, _ = gold_split(read_jsonl(gold_files()))
    out = read_jsonl(training_files()) + dev
    for r in feedback or []:
        if r.get("root_causes") is None:
            continue
        title = (r.get("title") or "").strip()
        text = f"{title}. {r['text']}" if title else r["text"]
        out.append(CauseExample(text, list(r["root_causes"]), r.get("journey_stage"),
                                r.get("sentiment"), f"feedback:{r.get('id', '')}",
                                r.get("rating"), r.get("brand")))
    return out


def train_rootcause(artifact: Path, feedback: list[dict[str, Any]] | None = None,
                    backend: str = "torch", refit_only: bool = False) -> dict[str, Any]:
    """Fit the root-cause head on the artifact's merged model; save it into ``artifact``.

    ``refit_only``: the sentiment adapters were not retrained in this run (``--causes-only``),
    so the model card must not add the two steps' times as if they were one run."""
    from nlp.labeller import Labeller, is_complaint
    from nlp.sentiment_model import ensure_sentiment_model, read_config

    t0 = time.perf_counter()
    cfg = read_config(artifact)
    lab = Labeller(ensure_sentiment_model(artifact, "target3"), backend=backend,
                   cause_head=None, prefix=cfg.get("prefix", "query: "))
    exs = cause_training_set(feedback)
    if not exs:
        raise TrainingDataError("no labelled reviews for the root-cause head (nlp/data/*.jsonl)")
    texts = [e.text for e in exs]
    # with the brand, as the pipeline labels (sentiment from the «brand | text» pass)
    f = lab.features(texts, [e.brand for e in exs])
    X = np.hstack([f["embedding"], f["rules"], f["similarity"]])
    unknown = sorted({c for e in exs for c in e.causes} - set(lab.causes))
    if unknown:
        raise ValueError(f"training data uses cause ids not in the taxonomy: {unknown}")
    Y = np.array([[c in e.causes for c in lab.causes] for e in exs], dtype=np.float32)
    S = np.array([lab.stages.index(e.stage if e.stage in lab.stages else NO_STAGE)
                  for e in exs])
    B = bag_of_lemmas(texts)
    dim = f["embedding"].shape[1]
    complaint = np.array([is_complaint(e.sentiment, e.rating) for e in exs])
    thresholds, bow_weight, floor = tune_thresholds(dim, lab.causes, lab.stages, X, Y,
                                                    f["cues"], S, B, complaint=complaint)
    head = fit_head(dim, lab.causes, lab.stages, X, Y, f["cues"], S, B=B)
    import torch

    head.thresholds.copy_(torch.from_numpy(thresholds.astype(np.float32)))
    head.bow_weight.fill_(bow_weight)
    head.complaint_floor.fill_(floor)
    judged = [i for i, e in enumerate(exs) if e.sentiment in REVIEW_SENTIMENTS]
    if judged:
        fit_review(head, f["embedding"][judged], f["sentiment"][judged],
                   [exs[i].rating for i in judged], [exs[i].sentiment for i in judged])
    else:
        head.review = None
        log.warning("no sentiment labels in the training reviews: no review-sentiment layer")
    n_feedback = sum(1 for e in exs if e.id.startswith("feedback:"))
    head.meta = {"n_train": len(exs), "n_feedback": n_feedback,
                 "sources": sorted({p.name for p in training_files()}) + ["gold dev half"],
                 "thresholds": dict(zip(lab.causes, map(float, thresholds))),
                 "bow_weight": bow_weight,
                 "complaint_floor": floor,
                 "n_review_sentiment": len(judged),
                 "refit_only": refit_only,
                 "fitted_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "wall_time_s": round(time.perf_counter() - t0, 1)}
    save_head(head, artifact)
    from nlp.sentiment_model import CONFIG

    cfg["rootcause"] = head.meta
    (artifact / CONFIG).write_text(json.dumps(cfg, indent=1, ensure_ascii=False) + "\n",
                                   encoding="utf-8")
    log.info("root-cause head: %d examples (%d corrections), saved to %s", len(exs),
             n_feedback, artifact)
    return head.meta


def train(data_dir: Path, out_dir: Path, *, epochs: int = 2, skip_sentiment: bool = False,
          feedback: list[dict[str, Any]] | None = None, limit: int | None = None,
          precision: str = "fp32") -> dict[str, Any]:
    """Both steps; returns a report with wall times."""
    from nlp.finetune import FinetuneConfig, train_and_save

    t0 = time.perf_counter()
    report: dict[str, Any] = {}
    if not skip_sentiment:
        cfg = train_and_save(Path(data_dir), Path(out_dir),
                             FinetuneConfig(epochs=epochs, precision=precision), limit=limit)
        report["sentiment"] = {"training": cfg["training"],
                               "metrics_heldout": cfg["metrics_heldout"]}
    report["rootcause"] = train_rootcause(Path(out_dir), feedback, refit_only=skip_sentiment)
    report["wall_time_s"] = round(time.perf_counter() - t0, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    import argparse

    from nlp.sentiment_model import SHIPPED

    ap = argparse.ArgumentParser(prog="python -m nlp.train", description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=Path("/work/shared/data/sentiment"))
    ap.add_argument("--out-dir", type=Path, default=SHIPPED)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--skip-sentiment", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(json.dumps(train(args.data_dir, args.out_dir, epochs=args.epochs,
                           skip_sentiment=args.skip_sentiment), indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
