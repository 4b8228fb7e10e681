"""Sentence embeddings from any transformers encoder (default: converted multilingual-e5-small).

Why a thin wrapper: the rest of Slukh needs one thing — ``encode(texts) -> float32
[n, dim]``, L2-normalised, deterministic for a given model — plus a ``fingerprint`` to
record in ``labels.model_version`` so a changed encoder is never mixed silently with
labels made by an older one.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")

DEFAULT = "default"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_OFFSET_POSITION_MODELS = {"roberta", "xlm-roberta", "camembert"}
_POOLER_MODELS = {"bert", "roberta", "xlm-roberta"}  # pooler unused: do not build it
_VOLATILE_CONFIG_KEYS = {"transformers_version", "_name_or_path", "dtype", "torch_dtype"}


class EncoderLoadError(RuntimeError):
    """The encoder named by the caller cannot be loaded (missing folder, offline hub)."""


def chop(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of ``items`` of at most ``size`` (slovnet's ``chop``)."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    for i in range(0, len(items), size):
        yield items[i : i + size]


def machine_threads() -> int:
    """CPU cores this process may use (cgroup/affinity aware, unlike ``os.cpu_count``).

    ``SLUKH_THREADS`` overrides it, e.g. 1 when other jobs share the machine: torch's
    thread pool slows down badly when its threads compete for busy cores."""
    env = os.environ.get("SLUKH_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def resolve_model(model: str | Path) -> str:
    """``"default"`` -> converted cache folder; an existing path -> itself; else a hub id."""
    if str(model) == DEFAULT:
        from nlp.encoder_build import ensure_default_encoder

        return str(ensure_default_encoder())
    p = Path(model).expanduser()
    if p.exists():
        if not (p / "config.json").is_file():
            raise EncoderLoadError(f"{p} exists but has no config.json; not a model folder")
        return str(p)
    return str(model)


class Encoder:
    """Mean-pooled, L2-normalised embeddings; batches sorted by length for speed."""

    TOKEN_BUDGET = 8192  # padded tokens per forward pass: bounds memory on long reviews

    def __init__(self, model: str | Path, device: str | None = None, batch_size: int = 64,
                 max_length: int = 512, prefix: str = "query: ") -> None:
        import torch
        from transformers import AutoConfig, AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a per-load bar is noise in pipeline logs

        self.name = str(model)
        self.path = resolve_model(model)
        self.batch_size, self.max_length, self.prefix = batch_size, max_length, prefix
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=offline)
            config = AutoConfig.from_pretrained(self.path, local_files_only=offline)
            extra = {"add_pooling_layer": False} if config.model_type in _POOLER_MODELS else {}
            self.model = AutoModel.from_pretrained(self.path, config=config,
                                                   local_files_only=offline, **extra)
        except OSError as e:
            raise EncoderLoadError(
                f"cannot load encoder {self.name!r} from {self.path}: {e}. Give a local "
                "folder, or a hub id already in the HF cache when HF_HUB_OFFLINE=1") from e
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cpu":
            torch.set_num_threads(machine_threads())
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.dim = int(self.model.config.hidden_size)
        self.max_length = min(max_length, self._model_limit())

    def _model_limit(self) -> int:
        """Longest input the model accepts: tokenizer limit and position table, whichever
        is smaller (RoBERTa-style models reserve ``pad_token_id + 1`` positions)."""
        cfg = self.model.config
        limit = int(getattr(cfg, "max_position_embeddings", 0) or 1 << 30)
        if cfg.model_type in _OFFSET_POSITION_MODELS:
            limit -= int(cfg.pad_token_id or 0) + 1
        tok_limit = int(getattr(self.tokenizer, "model_max_length", 0) or 1 << 30)
        return min(limit, tok_limit) if tok_limit < 1 << 30 else limit

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` -> float32 ``[len(texts), dim]`` with unit rows.

        Texts are tokenised once, sorted by token count and batched under a padded-token
        budget, so a few long reviews do not make a whole batch pay for padding; the
        output comes back in the caller's order.
        """
        import torch

        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts; wrap a single text in a list")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        ids: list[list[int]] = []
        for part in chop([self.prefix + (t or "") for t in texts], 1024):
            ids += self.tokenizer(list(part), truncation=True,
                                  max_length=self.max_length)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]), reverse=True)
        pad = self.tokenizer.pad_token_id or 0
        with torch.inference_mode():
            for idx in self._batches(order, [len(x) for x in ids]):
                width = len(ids[idx[0]])  # longest first
                input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                    mask[row, : len(ids[i])] = 1
                hidden = self.model(input_ids=input_ids.to(self.device),
                                    attention_mask=mask.to(self.device)).last_hidden_state
                m = mask.to(self.device).unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
                pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
                out[idx] = pooled.cpu().numpy()
        return out

    def _batches(self, order: list[int], lengths: list[int]) -> Iterator[list[int]]:
        """Split length-sorted indices into batches of <= batch_size texts and
        <= TOKEN_BUDGET padded tokens (always at least one text)."""
        batch: list[int] = []
        for i in order:
            if batch and (len(batch) >= self.batch_size
                          or (len(batch) + 1) * lengths[batch[0]] > self.TOKEN_BUDGET):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    @cached_property
    def fingerprint(self) -> str:
        """12-hex hash of the model config (minus volatile keys) and its weights."""
        return self.weights_fingerprint(self.path, self.model)

    @staticmethod
    def weights_fingerprint(path: str | Path, model: object) -> str:
        """Hash of ``model``'s config and weights: the weights file when ``path`` is a local
        folder, else the in-memory parameters, so the same weights give the same
        fingerprint on every machine."""
        import torch

        h = hashlib.sha256()
        cfg = {k: v for k, v in model.config.to_dict().items()  # type: ignore[attr-defined]
               if k not in _VOLATILE_CONFIG_KEYS}
        h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
        files = [Path(path) / f for f in _WEIGHT_FILES if (Path(path) / f).is_file()]
        if files:
            with open(files[0], "rb") as fh:
                for block in iter(lambda: fh.read(1 << 24), b""):
                    h.update(block)
        else:
            for name, t in sorted(model.state_dict().items()):  # type: ignore[attr-defined]
                h.update(name.encode())
                h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        return h.hexdigest()[:12]
