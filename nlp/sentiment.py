"""Three-class sentiment head over frozen sentence embeddings.

Why a head and not a fine-tuned encoder: the encoder is shared by every Slukh model and
runs once per mention; a ~100k-parameter head trains in seconds on a laptop, ships in
git (< 1 MB) and can be retrained when the label set changes. The head owns its labels
(``id2label``/``label2id`` in ``config.json``) and records which encoder produced the
embeddings it was trained on, because a head is meaningless on another encoder.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
HEAD_FILE, CONFIG_FILE, CARD_FILE = "head.safetensors", "config.json", "README.md"


class HeadLoadError(RuntimeError):
    """A saved head folder is missing files or was written by an incompatible version."""


class SentimentHead(nn.Module):
    """Logistic regression (``hidden=0``) or a one-hidden-layer MLP over embeddings."""

    def __init__(self, dim: int, hidden: int = 256, labels: Sequence[str] = LABELS,
                 dropout: float = 0.1, meta: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.dim, self.hidden, self.labels = dim, hidden, tuple(labels)
        self.dropout = dropout
        self.meta: dict[str, Any] = dict(meta or {})
        n = len(self.labels)
        if hidden:
            self.net: nn.Module = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, hidden),
                                                nn.GELU(), nn.Dropout(dropout),
                                                nn.Linear(hidden, n))
        else:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, n))

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    @property
    def label2id(self) -> dict[str, int]:
        return {lab: i for i, lab in enumerate(self.labels)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @classmethod
    def fit(cls, X: np.ndarray, y: Sequence[str], *, hidden: int = 256, epochs: int = 60,
            lr: float = 2e-3, weight_decay: float = 1e-2, batch_size: int = 128,
            dropout: float = 0.1, seed: int = 0, labels: Sequence[str] = LABELS,
            balance: bool = True) -> SentimentHead:
        """Train with AdamW on cross-entropy; ``balance`` weights classes inversely to size.

        Fixed epochs, no early stopping: the held-out split is used only for reporting.
        """
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        head = cls(X.shape[1], hidden, labels, dropout)
        yi = np.array([head.label2id[v] for v in y], dtype=np.int64)
        counts = np.bincount(yi, minlength=len(labels)).astype(np.float32)
        if (counts == 0).any():
            missing = [lab for lab, c in zip(labels, counts) if c == 0]
            raise ValueError(f"no training examples for classes {missing}")
        w = counts.sum() / (len(labels) * counts) if balance else np.ones_like(counts)
        loss_fn = nn.CrossEntropyLoss(weight=torch.from_numpy(w))
        opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        Xt, yt = torch.from_numpy(np.asarray(X, dtype=np.float32)), torch.from_numpy(yi)
        head.train()
        for _ in range(epochs):
            perm = torch.from_numpy(rng.permutation(len(yi)))
            for i in range(0, len(perm), batch_size):
                idx = perm[i : i + batch_size]
                opt.zero_grad()
                loss_fn(head(Xt[idx]), yt[idx]).backward()
                opt.step()
            sched.step()
        head.eval()
        head.meta["hyperparameters"] = {"hidden": hidden, "epochs": epochs, "lr": lr,
                                        "weight_decay": weight_decay, "batch_size": batch_size,
                                        "dropout": dropout, "seed": seed, "balance": balance}
        return head

    def predict(self, embeddings: np.ndarray) -> tuple[list[str] | str, np.ndarray]:
        """Labels and class probabilities; a single 1-D embedding gives one label back."""
        single = embeddings.ndim == 1
        X = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if X.shape[1] != self.dim:
            raise ValueError(f"head expects {self.dim}-dim embeddings, got {X.shape[1]}; "
                             "was it trained on another encoder?")
        self.eval()
        with torch.inference_mode():
            probs = torch.softmax(self(torch.from_numpy(X)), dim=-1).numpy()
        labels = [self.labels[i] for i in probs.argmax(1)]
        return (labels[0], probs[0]) if single else (labels, probs)

    @property
    def fingerprint(self) -> str:
        """12-hex hash of the weights and labels (names the model version)."""
        h = hashlib.sha256(json.dumps(self.labels).encode())
        for name, t in sorted(self.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:12]

    def config(self) -> dict[str, Any]:
        return {"model_type": "slukh-sentiment-head", "format_version": 1, "dim": self.dim,
                "hidden": self.hidden, "dropout": self.dropout,
                "id2label": {str(i): lab for i, lab in self.id2label.items()},
                "label2id": self.label2id, "fingerprint": self.fingerprint, **self.meta}

    def save(self, out_dir: Path | str, card: str | None = None) -> Path:
        """Write ``head.safetensors``, ``config.json`` and the ``README.md`` model card."""
        from safetensors.torch import save_file

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, out / HEAD_FILE,
                  metadata={"format": "pt"})
        (out / CONFIG_FILE).write_text(json.dumps(self.config(), indent=2, ensure_ascii=False)
                                       + "\n", encoding="utf-8")
        (out / CARD_FILE).write_text(card or default_card(self.config()), encoding="utf-8")
        return out

    @classmethod
    def load(cls, directory: Path | str) -> SentimentHead:
        from safetensors.torch import load_file

        d = Path(directory)
        if not (d / HEAD_FILE).is_file() or not (d / CONFIG_FILE).is_file():
            raise HeadLoadError(f"{d} is not a sentiment head folder (needs {HEAD_FILE} "
                                f"and {CONFIG_FILE}); train one with nlp.train")
        cfg = json.loads((d / CONFIG_FILE).read_text(encoding="utf-8"))
        if cfg.get("model_type") != "slukh-sentiment-head" or cfg.get("format_version") != 1:
            raise HeadLoadError(f"{d / CONFIG_FILE}: not a format-1 slukh sentiment head")
        labels = [cfg["id2label"][str(i)] for i in range(len(cfg["id2label"]))]
        known = {"model_type", "format_version", "dim", "hidden", "dropout", "id2label",
                 "label2id", "fingerprint"}
        head = cls(cfg["dim"], cfg["hidden"], labels, cfg.get("dropout", 0.0),
                   meta={k: v for k, v in cfg.items() if k not in known})
        head.load_state_dict(load_file(d / HEAD_FILE), strict=True)
        head.eval()
        return head


def default_card(cfg: dict[str, Any]) -> str:
    """Minimal model card; :mod:`nlp.train` writes a fuller one with metrics."""
    return (f"# Slukh sentiment head\n\nLabels: {', '.join(cfg['id2label'].values())}. "
            f"Input: {cfg['dim']}-dim embeddings from encoder "
            f"`{cfg.get('encoder', {}).get('name', '?')}`.\n")
