"""Sentiment logits and text embeddings from one forward pass of a classification model.

Why: production needs, for every review, the sentiment classifier's logits *and* the
mean-pooled, L2-normalised last hidden state (the root-cause head's input). Running the
fine-tuned ``*ForSequenceClassification`` model once and reading both from the same pass
halves the encoder cost against a pipeline plus a separate ``Encoder``.

Backends (``backend=``):

* ``"torch"`` — transformers model; fp16 on CUDA, fp32 on CPU.
* ``"onnx"`` / ``"onnx-int8"`` — ONNX Runtime on a dynamically int8-quantised export
  (``nlp.onnx_backend``), built once per model and cached under ``$SLUKH_CACHE/onnx``.
  ``"onnx-fp32"`` runs the unquantised export (the opt-out when int8 is not good enough).
* ``"auto"`` — torch on a GPU; on CPU onnx-fp32 when onnxruntime is installed and the
  export exists or can be built, else torch. int8 is opt-in (``SLUKH_NLP_BACKEND=onnx-int8``
  or ``backend="onnx-int8"``): on the AVX2 development CPU it was no faster than onnx-fp32
  (BENCHMARKS.md) and cost 0.8 points of RuSentiTweet macro-F1 (0.657 vs 0.665), so it
  only pays on CPUs with VNNI/AMX. ``SLUKH_NLP_BACKEND`` overrides ``auto``.

``fingerprint`` is ``<weights hash>-<backend tag>`` (e.g. ``1a2b3c4d5e6f-onnx-int8``):
store it in ``labels.model_version`` so labels made by different numerics never mix
silently. ``weights_fingerprint`` is the backend-independent part.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from nlp.encoder import (_OFFSET_POSITION_MODELS, _VOLATILE_CONFIG_KEYS, _WEIGHT_FILES,
                         EncoderLoadError, chop, machine_threads, resolve_model)

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx", "onnx-int8", "onnx-fp32")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")


def logits_and_embeddings(model: Any, input_ids: Any, attention_mask: Any) -> tuple[Any, Any]:
    """One forward pass -> (logits, mean-pooled L2-normalised last hidden state).

    Shared by the torch backend and the ONNX export wrapper, so both compute exactly
    the same thing. Works for any ``*ForSequenceClassification`` whose last hidden state
    is ``hidden_states[-1]`` (BERT, XLM-R, ...)."""
    import torch

    out = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    hidden = out.hidden_states[-1].float()
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
    return out.logits.float(), torch.nn.functional.normalize(pooled, dim=-1)


def length_batches(order: Sequence[int], lengths: Sequence[int], batch_size: int,
                   token_budget: int) -> Iterator[list[int]]:
    """Split longest-first indices into batches of <= batch_size texts and <= token_budget
    padded tokens (always at least one text per batch)."""
    batch: list[int] = []
    for i in order:
        if batch and (len(batch) >= batch_size
                      or (len(batch) + 1) * lengths[batch[0]] > token_budget):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


class TextModel:
    """Classification logits + text embeddings for a list of texts, in the caller's order."""

    #: Padded tokens per forward pass. On a GPU big batches pay; on CPU activations must
    #: stay in cache: with e5-small on 1-2 AVX2 cores 64x~100-token batches ran at half
    #: the speed of ~1k-token ones (torch best at 1024, ONNX Runtime at 512).
    TOKEN_BUDGET = 8192
    CPU_TOKEN_BUDGET = 1024
    ONNX_TOKEN_BUDGET = 512

    def __init__(self, model: str | Path, backend: str = "auto", max_length: int = 256,
                 batch_size: int = 64, prefix: str = "query: ",
                 device: str | None = None) -> None:
        from transformers import AutoConfig, AutoTokenizer
        from transformers.utils import logging as hf_logging

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        hf_logging.disable_progress_bar()
        self.name = str(model)
        self.path = resolve_model(model)
        self.batch_size, self.prefix = batch_size, prefix
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path,
                                                           local_files_only=_offline())
            self.config = AutoConfig.from_pretrained(self.path, local_files_only=_offline())
        except OSError as e:
            raise self._load_error(e) from e
        if not self.config.id2label or self.config.architectures and not any(
                a.endswith("ForSequenceClassification") for a in self.config.architectures):
            raise EncoderLoadError(
                f"{self.name!r} is not a sequence-classification checkpoint "
                f"(architectures={self.config.architectures}); TextModel needs one")
        self.labels: list[str] = [self.config.id2label[i] for i in sorted(self.config.id2label)]
        self.dim = int(self.config.hidden_size)
        self.max_length = min(max_length, self._model_limit())
        self._torch_model: Any = None
        self._session: Any = None
        self._backend, self._auto = self._choose_backend(backend, device)
        if self._backend == "torch":
            self._load_torch(device)
        else:
            self._load_onnx(quantize=self._backend == "onnx-int8")

    # ----------------------------------------------------------------- loading
    def _load_error(self, e: Exception) -> EncoderLoadError:
        return EncoderLoadError(
            f"cannot load classification model {self.name!r} from {self.path}: {e}. Give a "
            "local folder, or a hub id already in the HF cache when HF_HUB_OFFLINE=1")

    def _model_limit(self) -> int:
        """Longest input the model accepts (position table and tokenizer limit)."""
        cfg = self.config
        limit = int(getattr(cfg, "max_position_embeddings", 0) or 1 << 30)
        if cfg.model_type in _OFFSET_POSITION_MODELS:
            limit -= int(cfg.pad_token_id or 0) + 1
        tok_limit = int(getattr(self.tokenizer, "model_max_length", 0) or 1 << 30)
        return min(limit, tok_limit) if tok_limit < 1 << 30 else limit

    def _choose_backend(self, backend: str, device: str | None) -> tuple[str, bool]:
        """(concrete backend, whether it was chosen automatically)."""
        if backend == "auto":
            backend = os.environ.get("SLUKH_NLP_BACKEND", "").strip() or "auto"
            if backend not in BACKENDS:
                raise ValueError(f"SLUKH_NLP_BACKEND must be one of {BACKENDS}, got {backend!r}")
        if backend == "onnx":
            backend = "onnx-int8"
        if backend != "auto":
            return backend, False
        import torch

        if (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda"):
            return "torch", True
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "torch", True
        return "onnx-fp32", True  # _load_onnx falls back to torch if the export fails

    def _load_torch(self, device: str | None) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification

        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                self.path, config=self.config, local_files_only=_offline())
        except OSError as e:
            raise self._load_error(e) from e
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cpu":
            torch.set_num_threads(machine_threads())
        else:
            model = model.half()
        self._torch_model = model.to(self.device).eval()
        self._backend = "torch"

    def _load_onnx(self, quantize: bool) -> None:
        try:
            import onnxruntime as ort

            from nlp.onnx_backend import ensure_onnx
            onnx_path = ensure_onnx(self, quantize=quantize)
        except Exception as e:  # noqa: BLE001 - auto must still give a working model
            if self._auto:
                log.warning("ONNX backend unavailable (%s); using torch", e)
                self._load_torch(None)
                return
            raise
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = machine_threads()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(onnx_path), opts,
                                             providers=["CPUExecutionProvider"])
        self.onnx_path = onnx_path

    def torch_model(self) -> Any:
        """The fp32 torch model (loaded on demand; used to build the ONNX export)."""
        if self._torch_model is not None and self.device.type == "cpu":
            return self._torch_model
        from transformers import AutoModelForSequenceClassification

        try:
            return AutoModelForSequenceClassification.from_pretrained(
                self.path, config=self.config, local_files_only=_offline()).eval()
        except OSError as e:
            raise self._load_error(e) from e

    # ----------------------------------------------------------------- identity
    @property
    def backend(self) -> str:
        """``torch`` or ``onnx`` (see ``backend_tag`` for the numerics)."""
        return "torch" if self._backend == "torch" else "onnx"

    @property
    def backend_tag(self) -> str:
        """What produced the numbers: torch-fp32, torch-fp16, onnx-int8 or onnx-fp32."""
        if self._backend == "torch":
            return "torch-fp16" if self.device.type == "cuda" else "torch-fp32"
        return self._backend

    @cached_property
    def weights_fingerprint(self) -> str:
        """12-hex hash of the config (minus volatile keys) and the weights file, the same
        scheme as ``Encoder.fingerprint``; independent of the backend."""
        h = hashlib.sha256()
        cfg = {k: v for k, v in self.config.to_dict().items() if k not in _VOLATILE_CONFIG_KEYS}
        h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
        weights = self._weights_file()
        if weights is not None:
            with open(weights, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 24), b""):
                    h.update(block)
        else:
            import torch

            for name, t in sorted(self.torch_model().state_dict().items()):
                h.update(name.encode())
                h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        return h.hexdigest()[:12]

    @property
    def fingerprint(self) -> str:
        """``<weights_fingerprint>-<backend_tag>``: what ``labels.model_version`` records."""
        return f"{self.weights_fingerprint}-{self.backend_tag}"

    def _weights_file(self) -> Path | None:
        local = [Path(self.path) / f for f in _WEIGHT_FILES if (Path(self.path) / f).is_file()]
        if local:
            return local[0]
        try:
            from transformers.utils import cached_file

            for f in _WEIGHT_FILES:
                found = cached_file(self.path, f, local_files_only=True,
                                    _raise_exceptions_for_missing_entries=False)
                if found:
                    return Path(found)
        except Exception:  # noqa: BLE001 - fall back to hashing the parameters
            return None
        return None

    # ----------------------------------------------------------------- inference
    def run(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``texts`` -> (logits float32 [n, len(labels)], embeddings float32 [n, dim]).

        Texts are tokenised once (with ``prefix``), sorted by token count and batched
        under a padded-token budget; results come back in the caller's order."""
        if isinstance(texts, str):
            raise TypeError("run() takes a list of texts; wrap a single text in a list")
        n = len(texts)
        logits = np.zeros((n, len(self.labels)), dtype=np.float32)
        emb = np.zeros((n, self.dim), dtype=np.float32)
        ids: list[list[int]] = []
        for part in chop([self.prefix + (t or "") for t in texts], 1024):
            ids += self.tokenizer(list(part), truncation=True,
                                  max_length=self.max_length)["input_ids"]
        lengths = [len(x) for x in ids]
        order = sorted(range(n), key=lambda i: lengths[i], reverse=True)
        pad = self.tokenizer.pad_token_id or 0
        if self._backend != "torch":
            forward, budget = self._forward_onnx, self.ONNX_TOKEN_BUDGET
        else:
            forward = self._forward_torch
            budget = self.TOKEN_BUDGET if self.device.type == "cuda" else self.CPU_TOKEN_BUDGET
        for idx in length_batches(order, lengths, self.batch_size, budget):
            width = lengths[idx[0]]  # longest first
            input_ids = np.full((len(idx), width), pad, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                input_ids[row, : lengths[i]] = ids[i]
                mask[row, : lengths[i]] = 1
            logits[idx], emb[idx] = forward(input_ids, mask)
        return logits, emb

    def _forward_torch(self, input_ids: np.ndarray, mask: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            lg, em = logits_and_embeddings(self._torch_model,
                                           torch.from_numpy(input_ids).to(self.device),
                                           torch.from_numpy(mask).to(self.device))
        return lg.cpu().numpy(), em.cpu().numpy()

    def _forward_onnx(self, input_ids: np.ndarray, mask: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
        lg, em = self._session.run(["logits", "text_embedding"],
                                   {"input_ids": input_ids, "attention_mask": mask})
        return lg, em

    def predict(self, texts: Sequence[str]) -> list[str]:
        """Top label per text (convenience over ``run``)."""
        logits, _ = self.run(texts)
        return [self.labels[i] for i in logits.argmax(1)]
