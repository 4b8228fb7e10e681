"""Benchmark: sentiment logits + embeddings (TextModel) against a plain transformers pipeline.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.bench_nlp [--model DIR] [--n 10000]
        [--ours-n 2000] [--pipeline-n 500] [--threads N]

Texts: the 941 hand-written reviews of nlp/eval/data and nlp/data (gold and training
files), then demo-site reviews (``slukh.demo_site.generate_reviews``, 3 banks x 60 days,
~766 a seed) from seeds 2026, 2027, ... until ``--n`` distinct texts. Exact repeats that
appear *across* generator seeds are template artefacts, not real duplicates: they are
dropped and counted, and content-hash de-duplication is therefore not timed (the data has
no real duplicates to remove).

Model: ``--model`` is the lead's fine-tuned ``BertForSequenceClassification`` folder. Without
it (development only) a ``BertForSequenceClassification`` is built from the default encoder
with a freshly initialised 3-label head (seed 0) and saved to a temporary folder: its
*speed* is the real model's, its labels are meaningless and its logit margins tiny, so
label agreement between backends is a pessimistic figure there; the embedding cosine is
the accuracy figure that carries over.

Timed in the same run, on seeded random samples of the texts (so the length mix matches):
  (a) ``transformers.pipeline("text-classification", model=DIR, device=-1)`` with its
      defaults (batch_size=1) and with batch_size=32, both truncation=True, on the first
      ``--pipeline-n`` texts of the sample (it is the slow one);
  (b) ``TextModel(backend="torch")`` and (c) ``TextModel(backend="onnx-int8")`` (plus the
      unquantised ``onnx-fp32``) on the first ``--ours-n`` texts.
The pipeline gets ``prefix + text`` so every system sees the same input. Agreement of
labels is measured on the pipeline's texts; int8-vs-torch label agreement and embedding
cosine on all ``--ours-n``. One warm-up batch is run before each timing. Figures are
printed, not asserted: they depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import platform
import random
import re
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REAL_FILES = ("nlp/eval/data/rootcause_gold_a.jsonl", "nlp/eval/data/rootcause_gold_b.jsonl",
              "nlp/data/rootcause_train_c.jsonl", "nlp/data/rootcause_train_d.jsonl")
LABELS = {0: "negative", 1: "neutral", 2: "positive"}
BRAND = "Заря Банк"   # the brand named in front of every text in the "with the brand" row


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def load_texts(n: int) -> tuple[list[str], dict[str, int]]:
    """``n`` distinct review texts (title + body) and counts of what was dropped."""
    from slukh.demo_site.generate import generate_reviews

    texts: list[str] = []
    seen: set[str] = set()
    stats = {"real": 0, "real_duplicates": 0, "demo": 0, "demo_cross_seed_repeats": 0}
    for name in REAL_FILES:
        path = ROOT / name
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            text = f"{row.get('title') or ''}\n{row['text']}".strip()
            if _digest(text) in seen:
                stats["real_duplicates"] += 1
                continue
            seen.add(_digest(text))
            texts.append(text)
            stats["real"] += 1
    seed = 2026
    while len(texts) < n:
        for r in generate_reviews(seed):
            body = html.unescape(re.sub(r"</p>\s*<p>", "\n", r.text_html)
                                 .replace("<p>", "").replace("</p>", ""))
            text = f"{r.title}\n{body}"
            if _digest(text) in seen:
                stats["demo_cross_seed_repeats"] += 1
                continue
            seen.add(_digest(text))
            texts.append(text)
            stats["demo"] += 1
        seed += 1
    stats["real"] = min(stats["real"], n)
    stats["demo"] = max(0, n - stats["real"])
    return texts[:n], stats


def build_dev_model(out: Path) -> Path:
    """Default encoder + freshly initialised pooler and 3-label head (development only)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from nlp.encoder import resolve_model

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    enc = resolve_model("default")
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        enc, num_labels=3, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(enc).save_pretrained(out)
    return out


def _timed(fn, texts: list[str]) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    fn(texts[:8])  # warm-up: first-call allocations, lazy init
    t = time.perf_counter()
    out = fn(texts)
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module docstring for what is measured.")
    ap.add_argument("--model", help="'default' = the shipped Slukh model (also times the full "
                                    "Labeller), or a sequence-classification folder / hub id; "
                                    "unset: dev model (default encoder + random 3-label head)")
    ap.add_argument("--n", type=int, default=10_000, help="texts in the data set (10000)")
    ap.add_argument("--ours-n", type=int, default=2000,
                    help="texts timed for TextModel backends (2000; 0 = all --n)")
    ap.add_argument("--pipeline-n", type=int, default=500,
                    help="texts timed for the transformers pipeline baselines (500)")
    ap.add_argument("--threads", type=int, help="sets SLUKH_THREADS (default: all cores)")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--prefix", default="query: ")
    args = ap.parse_args()
    if args.threads:
        os.environ["SLUKH_THREADS"] = str(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch
    from transformers import AutoTokenizer, pipeline
    from transformers.utils import logging as hf_logging

    from nlp.encoder import machine_threads
    from nlp.textmodel import TextModel

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    threads = machine_threads()
    torch.set_num_threads(threads)
    tmp = tempfile.TemporaryDirectory(prefix="slukh-bench-nlp-")
    if args.model == "default":  # the shipped Slukh model, merged into a checkpoint
        from nlp.sentiment_model import SHIPPED, ensure_sentiment_model

        model_dir = ensure_sentiment_model(SHIPPED, "target3")
    else:
        model_dir = Path(args.model) if args.model else build_dev_model(Path(tmp.name) / "dev")
    texts, stats = load_texts(args.n)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
          f"visible, threads={threads}; torch {torch.__version__}; load average "
          f"{os.getloadavg()[0]:.1f} (other jobs make figures noisy)")
    print(f"model: {args.model or 'DEV model (default encoder + random 3-label head)'}")
    print(f"texts: {len(texts)} ({stats['real']} hand-written, {stats['demo']} demo-site); "
          f"exact duplicates: {stats['real_duplicates']} among hand-written, "
          f"{stats['demo_cross_seed_repeats']} demo repeats across generator seeds dropped "
          "(template artefacts) -> no real duplicates, de-duplication not timed")

    tok = AutoTokenizer.from_pretrained(model_dir)
    lens = np.array([len(x) for x in tok([args.prefix + t for t in texts])["input_ids"]])
    q = np.percentile(lens, [50, 90, 99])
    print(f"tokens per text (with prefix, untruncated): mean {lens.mean():.0f}, p50 {q[0]:.0f}, "
          f"p90 {q[1]:.0f}, p99 {q[2]:.0f}, max {lens.max()}; "
          f"{(lens > args.max_length).mean():.1%} over max_length={args.max_length}, "
          f"{(lens > 512).mean():.1%} over 512")

    rng = random.Random(0)
    sample = rng.sample(texts, len(texts))
    ours_n = len(texts) if args.ours_n <= 0 else min(args.ours_n, len(texts))
    pipe_n = min(args.pipeline_n, ours_n)
    ours, base = sample[:ours_n], sample[:pipe_n]
    rows: list[tuple[str, int, float]] = []

    clf = pipeline("text-classification", model=str(model_dir), device=-1)
    pipe_labels: list[str] = []
    for name, kw in (("pipeline, defaults (batch_size=1)", {}),
                     ("pipeline, batch_size=32", {"batch_size": 32})):
        dt, out = _timed(lambda xs, kw=kw: clf([args.prefix + x for x in xs],
                                               truncation=True, **kw), base)
        rows.append((name, pipe_n, pipe_n / dt))
        pipe_labels = [o["label"] for o in out]  # type: ignore[attr-defined]
        print(f"{name}: {pipe_n} texts in {dt:.1f}s = {pipe_n / dt:.1f} texts/s", flush=True)
    del clf

    results = {}
    for backend in ("torch", "onnx-int8", "onnx-fp32"):
        t = time.perf_counter()
        tm = TextModel(model_dir, backend=backend, max_length=args.max_length,
                       prefix=args.prefix)
        load_s = time.perf_counter() - t
        dt_same, (logits, _) = _timed(tm.run, base)  # type: ignore[misc]
        rows.append((f"TextModel {tm.backend_tag}, pipeline's texts", pipe_n, pipe_n / dt_same))
        agree = np.mean([tm.labels[i] == p for i, p in zip(logits.argmax(1), pipe_labels)])
        dt, (logits, emb) = _timed(tm.run, ours)  # type: ignore[misc]
        results[backend] = (logits, emb)
        rows.append((f"TextModel {tm.backend_tag}", ours_n, ours_n / dt))
        print(f"TextModel {tm.fingerprint}: load/export {load_s:.1f}s; pipeline's {pipe_n} "
              f"texts {pipe_n / dt_same:.1f} texts/s, labels agree with pipeline on "
              f"{agree:.1%}; {ours_n} texts in {dt:.1f}s = {ours_n / dt:.1f} texts/s",
              flush=True)
        del tm

    if args.model == "default":
        from nlp.labeller import Labeller
        from nlp.lemmas import clear_cache

        for backend in ("torch", "onnx-int8", "onnx-fp32"):
            lab = Labeller(backend=backend)
            lab.label(ours[:64])  # warm-up: lemmatiser dictionaries, ONNX session
            clear_cache()  # no lemmas left over from the warm-up or the last row
            dt, labs = _timed(lab.label, ours)
            rows.append((f"Labeller {backend} (sentiment + causes + stage)", ours_n, ours_n / dt))
            neg = np.mean([x.sentiment == "negative" for x in labs])  # type: ignore[attr-defined]
            print(f"Labeller {lab.model_version}: {ours_n} texts in {dt:.1f}s = "
                  f"{ours_n / dt:.1f} texts/s ({neg:.0%} negative)", flush=True)
            if backend == "onnx-fp32":
                # as `slukh classify` labels: with the brand, so sentiment is read from a
                # second «brand | text» pass (the cause head keeps the plain pass)
                clear_cache()
                dt, _ = _timed(lambda t, lab=lab: lab.label(t, None, [BRAND] * len(t)), ours)
                rows.append((f"Labeller {backend}, with the brand (as slukh classify: "
                             "two passes)", ours_n, ours_n / dt))
                print(f"Labeller {backend} with the brand: {ours_n / dt:.1f} texts/s",
                      flush=True)
            del lab

    ref_l, ref_e = results["torch"]
    for backend in ("onnx-int8", "onnx-fp32"):
        lg, em = results[backend]
        cos = (em * ref_e).sum(1)
        margin = np.sort(ref_l, 1)
        tied = margin[:, -1] - margin[:, -2] < 0.01
        print(f"{backend} vs torch fp32 on {ours_n}: argmax agree "
              f"{np.mean(lg.argmax(1) == ref_l.argmax(1)):.1%} (where torch's top-2 margin "
              f">= 0.01: {np.mean((lg.argmax(1) == ref_l.argmax(1))[~tied]):.1%} of "
              f"{int((~tied).sum())}); embedding cosine mean {cos.mean():.4f}, "
              f"p1 {np.percentile(cos, 1):.4f}, min {cos.min():.4f}; max |logit diff| "
              f"{np.abs(lg - ref_l).max():.4f}")

    base_rate = rows[0][2]
    print("\n| system | texts timed | texts/s | vs pipeline defaults |\n|---|---:|---:|---:|")
    for name, n, rate in rows:
        print(f"| {name} | {n:,} | {rate:.1f} | {rate / base_rate:.1f}x |")
    print(f"\n(threads={threads}, --n {args.n}, --ours-n {ours_n}, --pipeline-n {pipe_n}, "
          f"max_length={args.max_length})")
    tmp.cleanup()


if __name__ == "__main__":
    main()
