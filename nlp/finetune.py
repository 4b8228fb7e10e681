"""Fine-tune the encoder for sentiment with LoRA adapters on the shared Russian data.

One pass of the encoder feeds two classification heads (multi-task):

* ``tweet5`` — RuSentiTweet's five classes (positive, negative, neutral, speech, skip).
  This is the published setting (Smetanin 2022: RuBERT-base macro-F1 0.655), used to
  report quality next to the literature.
* ``target3`` — negative / neutral / positive *towards a named entity*, the label Slukh
  stores for a brand. Trained on RuSentNE-2023 (news sentences, sentiment towards one
  entity), RuSentiTweet's three sentiment classes and SentiRuEval-2015 restaurant reviews.
  The entity is given as ``"<entity> | <text>"`` so a text that praises one bank and
  attacks another is labelled separately for each.

Both heads are BERT sequence-classification heads (pooler ``dense`` + ``tanh`` on the
first token, then a linear classifier), so the merged result is a standard
``BertForSequenceClassification`` checkpoint that ``transformers.pipeline`` can load.

Held out, never trained on: a stratified 15% of RuSentiTweet (seed 0) and the whole
RuSentNE ``validation_data_labeled.csv``; 15% of the SentiRuEval reviews.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nlp.train import TrainingDataError, clean, evaluate, stratified_split

log = logging.getLogger(__name__)

TWEET5 = ("negative", "neutral", "positive", "skip", "speech")
TARGET3 = ("negative", "neutral", "positive")
ENTITY_SEP = " | "
_NE = {"-1": "negative", "0": "neutral", "1": "positive"}


def entity_input(entity: str | None, text: str) -> str:
    """The model input for sentiment towards ``entity`` (plain text when None)."""
    return f"{entity}{ENTITY_SEP}{text}" if entity else text


@dataclass
class Example:
    text: str
    y5: int = -1  # index in TWEET5, -1 = no label for that head
    y3: int = -1  # index in TARGET3
    source: str = ""


@dataclass
class Splits:
    train: list[Example] = field(default_factory=list)
    held: dict[str, list[Example]] = field(default_factory=dict)


def _need(path: Path) -> Path:
    if not path.is_file():
        raise TrainingDataError(f"missing training file {path}; point --data-dir at the shared "
                                "sentiment folder (e.g. /work/shared/data/sentiment)")
    return path


def load_splits(data_dir: Path, holdout: float = 0.15, seed: int = 0,
                limit: int | None = None) -> Splits:
    """Training examples and the held-out sets, built only from the train files.

    ``limit`` keeps the first N training examples of each source (for quick tests).
    """
    s = Splits()
    with open(_need(data_dir / "rusentitweet_train.csv"), encoding="utf-8") as fh:
        rows = [(clean(r["text"]), r["label"]) for r in csv.DictReader(fh)]
    rows = [(t, lab) for t, lab in rows if t and lab in TWEET5]
    tr, ho = stratified_split([lab for _, lab in rows], holdout, seed)
    k3 = {lab: i for i, lab in enumerate(TARGET3)}

    def tweet(i: int) -> Example:
        t, lab = rows[i]
        return Example(t, TWEET5.index(lab), k3.get(lab, -1), "rusentitweet")

    s.train += [tweet(i) for i in tr[:limit]]
    s.held["rusentitweet"] = [tweet(i) for i in ho]

    def ne(path: Path) -> list[Example]:
        with open(_need(path), encoding="utf-8") as fh:
            return [Example(entity_input(r["entity"], clean(r["sentence"])), -1,
                            k3[_NE[r["label"]]], "rusentne2023")
                    for r in csv.DictReader(fh, delimiter="\t") if r["label"] in _NE]

    ne_dir = data_dir / "rusentne2023"
    s.train += ne(ne_dir / "train_data.csv")[:limit]
    s.held["rusentne2023"] = ne(ne_dir / "validation_data_labeled.csv")

    xml = data_dir / "sentirueval2015_restaurants" / "SentiRuEval_rest_markup_train.xml"
    reviews = []
    for review in ET.parse(_need(xml)).getroot().iter("review"):
        whole = [c.get("sentiment") for c in review.iter("category") if c.get("name") == "Whole"]
        text = clean(review.findtext("text") or "")
        if text and whole and whole[0] in k3:
            reviews.append(Example(text, -1, k3[whole[0]], "sentirueval2015"))
    rtr, rho = stratified_split([TARGET3[e.y3] for e in reviews], holdout, seed)
    s.train += [reviews[i] for i in rtr[:limit]]
    s.held["sentirueval2015"] = [reviews[i] for i in rho]
    return s


class SentimentModel(nn.Module):
    """Encoder + ``tweet5`` and ``target3`` BERT-style heads on the first token."""

    def __init__(self, encoder: nn.Module, dropout: float = 0.1) -> None:
        super().__init__()
        dim = int(encoder.config.hidden_size)
        self.encoder = encoder
        self.drop = nn.Dropout(dropout)
        self.pool5, self.cls5 = nn.Linear(dim, dim), nn.Linear(dim, len(TWEET5))
        self.pool3, self.cls3 = nn.Linear(dim, dim), nn.Linear(dim, len(TARGET3))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        first = h[:, 0]
        z5 = self.cls5(self.drop(torch.tanh(self.pool5(self.drop(first)))))
        z3 = self.cls3(self.drop(torch.tanh(self.pool3(self.drop(first)))))
        return z5, z3

    def head_state(self) -> dict[str, torch.Tensor]:
        return {f"{k}": v.detach().cpu() for k, v in self.state_dict().items()
                if k.split(".")[0] in ("pool5", "cls5", "pool3", "cls3")}


def length_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator,
                   shuffle: bool = True) -> Iterator[list[int]]:
    """Batches of similar length (less padding), in random order when ``shuffle``."""
    order = np.argsort(np.asarray(lengths) + (rng.random(len(lengths)) if shuffle else 0),
                       kind="stable")
    batches = [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    yield from batches


def _pad(ids: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for r, x in enumerate(ids):
        input_ids[r, :len(x)] = torch.tensor(x)
        mask[r, :len(x)] = 1
    return input_ids, mask


@dataclass
class FinetuneConfig:
    r: int = 16
    alpha: float = 32.0
    lora_dropout: float = 0.05
    epochs: int = 2
    batch_size: int = 32
    lr: float = 1e-3
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: float = 0.06
    max_length: int = 128
    seed: int = 0
    prefix: str = "query: "
    #: Mixed precision: bf16 matmuls under autocast, fp32 adapters, optimizer and
    #: evaluation. "auto" = on where the CPU has native bf16 (AVX512-BF16 / AMX). fp32 by
    #: default: bf16 runs scored ~1 point lower on held-out RuSentiTweet (BENCHMARKS.md).
    precision: str = "fp32"


def use_bf16(precision: str) -> bool:
    """Whether training (on the CPU) runs its forward pass under bf16 autocast.

    On this project's 2-core AVX512-BF16 machine a training step of e5-small + LoRA
    (32 texts, ~45 tokens) took 0.80 s in bf16 against 1.45 s in fp32."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    if precision != "auto":
        return precision == "bf16"
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def predict(model: SentimentModel, tokenizer: Any, texts: Sequence[str], max_length: int,
            prefix: str, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities of both heads for ``texts`` (eval mode, no grad)."""
    ids = tokenizer([prefix + t for t in texts], truncation=True,
                    max_length=max_length)["input_ids"]
    p5 = np.zeros((len(texts), len(TWEET5)), np.float32)
    p3 = np.zeros((len(texts), len(TARGET3)), np.float32)
    model.eval()
    with torch.inference_mode():
        for idx in length_batches([len(x) for x in ids], batch_size, np.random.default_rng(0),
                                  shuffle=False):
            z5, z3 = model(*_pad([ids[i] for i in idx], tokenizer.pad_token_id or 0))
            p5[idx] = torch.softmax(z5, -1).numpy()
            p3[idx] = torch.softmax(z3, -1).numpy()
    return p5, p3


def evaluate_heldout(model: SentimentModel, tokenizer: Any, held: dict[str, list[Example]],
                     cfg: FinetuneConfig) -> dict[str, Any]:
    """Macro-F1, per-class figures and confusion matrices on every held-out set."""
    out: dict[str, Any] = {}
    for name, exs in held.items():
        p5, p3 = predict(model, tokenizer, [e.text for e in exs], cfg.max_length, cfg.prefix)
        if name == "rusentitweet":
            out["rusentitweet_5class"] = evaluate([TWEET5[e.y5] for e in exs],
                                                  [TWEET5[i] for i in p5.argmax(1)], TWEET5)
            three = [(e, p) for e, p in zip(exs, p3) if e.y3 >= 0]
            out["rusentitweet_3class"] = evaluate([TARGET3[e.y3] for e, _ in three],
                                                  [TARGET3[int(p.argmax())] for _, p in three],
                                                  TARGET3)
        else:
            out[name] = evaluate([TARGET3[e.y3] for e in exs],
                                 [TARGET3[i] for i in p3.argmax(1)], TARGET3)
    return out


def finetune(data_dir: Path, encoder_path: str | Path, cfg: FinetuneConfig,
             limit: int | None = None, progress: bool = True) -> tuple[SentimentModel, Any, dict]:
    """Train LoRA adapters + both heads; returns (model with adapters, tokenizer, report)."""
    from transformers import AutoModel, AutoTokenizer

    from nlp.encoder import machine_threads
    from nlp.lora import add_lora

    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(machine_threads())
    rng = np.random.default_rng(cfg.seed)
    splits = load_splits(Path(data_dir), seed=cfg.seed, limit=limit)
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_path))
    encoder = AutoModel.from_pretrained(str(encoder_path), add_pooling_layer=False)
    n_adapters = add_lora(encoder, cfg.r, cfg.alpha, cfg.lora_dropout)
    model = SentimentModel(encoder)
    train = splits.train
    ids = tokenizer([cfg.prefix + e.text for e in train], truncation=True,
                    max_length=cfg.max_length)["input_ids"]
    y5 = torch.tensor([e.y5 for e in train])
    y3 = torch.tensor([e.y3 for e in train])
    # Class weights (inverse square-root frequency) help the small classes (speech, skip).
    w5 = _class_weights(y5, len(TWEET5))
    w3 = _class_weights(y3, len(TARGET3))
    loss5 = nn.CrossEntropyLoss(weight=w5, ignore_index=-1)
    loss3 = nn.CrossEntropyLoss(weight=w3, ignore_index=-1)
    lora_params = [p for n, p in model.named_parameters() if "lora_" in n]
    head_params = [p for n, p in model.named_parameters()
                   if n.split(".")[0] in ("pool5", "cls5", "pool3", "cls3")]
    opt = torch.optim.AdamW([{"params": lora_params, "lr": cfg.lr},
                             {"params": head_params, "lr": cfg.head_lr}],
                            weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warm = max(1, int(cfg.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    pad = tokenizer.pad_token_id or 0
    lengths = [len(x) for x in ids]
    bf16 = use_bf16(cfg.precision)
    log.info("fine-tuning %d steps on %d threads, %s", total, torch.get_num_threads(),
             "bf16 autocast" if bf16 else "fp32")
    bar = _progress(total, progress)
    step = 0
    for epoch in range(cfg.epochs):
        model.train()
        run_loss = 0.0
        for idx in length_batches(lengths, cfg.batch_size, rng):
            input_ids, mask = _pad([ids[i] for i in idx], pad)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                z5, z3 = model(input_ids, mask)
            z5, z3 = z5.float(), z3.float()
            b5, b3 = y5[idx], y3[idx]
            loss = torch.zeros(())
            if (b5 >= 0).any():
                loss = loss + loss5(z5, b5)
            if (b3 >= 0).any():
                loss = loss + loss3(z3, b3)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lora_params + head_params, 1.0)
            opt.step()
            sched.step()
            step += 1
            run_loss = 0.98 * run_loss + 0.02 * float(loss.detach()) if step > 1 else float(loss.detach())
            bar(step, f"epoch {epoch + 1}/{cfg.epochs} loss {run_loss:.3f}")
    train_s = time.perf_counter() - t0
    metrics = evaluate_heldout(model, tokenizer, splits.held, cfg)
    counts: dict[str, int] = {}
    for e in train:
        counts[e.source] = counts.get(e.source, 0) + 1
    report = {"train_time_s": round(train_s, 1),
              "wall_time_s": round(time.perf_counter() - t0, 1),
              "threads": torch.get_num_threads(), "adapters": n_adapters,
              "precision": "bf16" if bf16 else "fp32",
              "n_train": counts, "n_heldout": {k: len(v) for k, v in splits.held.items()},
              "metrics_heldout": metrics}
    return model, tokenizer, report


def _class_weights(y: torch.Tensor, n: int) -> torch.Tensor:
    counts = torch.bincount(y[y >= 0], minlength=n).float().clamp(min=1)
    w = (counts.sum() / counts).sqrt()
    return w / w.mean()


def _progress(total: int, enabled: bool):
    """A rich progress bar when on a terminal or enabled, else periodic log lines."""
    last = [0.0]
    t0 = time.perf_counter()

    def update(step: int, desc: str) -> None:
        now = time.perf_counter()
        if step == total or now - last[0] > (2 if enabled and os.isatty(2) else 30):
            last[0] = now
            rate = step / max(1e-9, now - t0)
            eta = (total - step) / max(1e-9, rate)
            msg = f"step {step}/{total} {desc} ({rate:.2f} steps/s, ETA {eta/60:.1f} min)"
            if enabled and os.isatty(2):
                print("\r" + msg, end="\n" if step == total else "", flush=True,
                      file=__import__("sys").stderr)
            else:
                log.info(msg)

    return update


def data_fingerprint(data_dir: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(Path(data_dir).rglob("*")):
        if p.is_file():
            h.update(p.name.encode())
            h.update(str(p.stat().st_size).encode())
    return h.hexdigest()[:12]


def train_and_save(data_dir: Path, out_dir: Path, cfg: FinetuneConfig | None = None,
                   encoder: str = "default", limit: int | None = None) -> dict[str, Any]:
    """Fine-tune, then write the artifact (adapters, heads, config); returns the report."""
    from dataclasses import asdict

    from nlp.encoder import Encoder, resolve_model
    from nlp.sentiment_model import save_artifact

    cfg = cfg or FinetuneConfig()
    base_path = resolve_model(encoder)
    model, _, report = finetune(Path(data_dir), base_path, cfg, limit)
    from transformers import AutoModel

    base = AutoModel.from_pretrained(base_path, add_pooling_layer=False)
    config = {"model_type": "slukh-sentiment-lora", "format_version": 2,
              "base_encoder": {"name": encoder,
                               "fingerprint": Encoder.weights_fingerprint(base_path, base)},
              "lora": {"r": cfg.r, "alpha": cfg.alpha, "targets": "attention + ffn, all layers"},
              "prefix": cfg.prefix, "max_length": cfg.max_length, "entity_separator": ENTITY_SEP,
              "labels": {"target3": list(TARGET3), "tweet5": list(TWEET5)},
              "hyperparameters": asdict(cfg), "data_fingerprint": data_fingerprint(Path(data_dir)),
              "training": {k: v for k, v in report.items() if k != "metrics_heldout"},
              "metrics_heldout": report["metrics_heldout"]}
    save_artifact(Path(out_dir), model.encoder, model, config)
    return config


if __name__ == "__main__":  # quick experiments: python -m nlp.finetune [epochs] [limit]
    import sys

    from nlp.encoder import resolve_model

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    c = FinetuneConfig(epochs=int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    lim = int(sys.argv[2]) or None if len(sys.argv) > 2 else None
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else Path("/tmp/slukh-sentiment-exp")
    rep = train_and_save(Path("/work/shared/data/sentiment"), out, c, limit=lim)
    print(json.dumps(rep["training"], indent=1))
    for k, v in rep["metrics_heldout"].items():
        print(k, v["macro_f1"], v["accuracy"], {c: x["f1"] for c, x in v["per_class"].items()})
