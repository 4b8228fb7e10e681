"""LoRA adapters: identity at start, merge == adapter forward, shipped tensors re-apply."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nlp.lora import LoRALinear, add_lora, apply_adapters, lora_state_dict, merge_lora


def _model(tiny_encoder_dir: Path):
    from transformers import AutoModel

    return AutoModel.from_pretrained(tiny_encoder_dir, add_pooling_layer=False).eval()


def _out(model, ids):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state


def test_adapters_start_as_identity_and_merge_exactly(tiny_encoder_dir: Path) -> None:
    ids = torch.tensor([[0, 5, 9, 12, 2], [0, 7, 7, 30, 2]])
    base = _model(tiny_encoder_dir)
    want = _out(base, ids)
    m = _model(tiny_encoder_dir)
    n = add_lora(m, r=4, alpha=8)
    assert n == 2 * 6  # 2 layers x (q, k, v, attention out, ffn in, ffn out)
    assert all(not p.requires_grad for name, p in m.named_parameters() if "lora_" not in name)
    m.eval()
    assert torch.allclose(_out(m, ids), want, atol=1e-6)  # B starts at zero
    torch.manual_seed(1)
    for mod in m.modules():
        if isinstance(mod, LoRALinear):
            torch.nn.init.normal_(mod.lora_B, std=0.2)
    adapted = _out(m, ids)
    assert not torch.allclose(adapted, want, atol=1e-3)
    saved = lora_state_dict(m)
    assert saved and all(k.endswith((".lora_A", ".lora_B")) for k in saved)
    assert merge_lora(m) == 12
    assert torch.allclose(_out(m, ids), adapted, atol=1e-5)
    fresh = _model(tiny_encoder_dir)
    assert apply_adapters(fresh, saved, alpha=8) == 12
    assert torch.allclose(_out(fresh, ids), adapted, atol=1e-5)


def test_adapter_shape_mismatch_is_refused(tiny_encoder_dir: Path) -> None:
    m = _model(tiny_encoder_dir)
    bad = {"encoder.layer.0.attention.self.query.lora_A": torch.zeros(2, 5),
           "encoder.layer.0.attention.self.query.lora_B": torch.zeros(32, 2)}
    with pytest.raises(ValueError, match="does not fit"):
        apply_adapters(m, bad, alpha=4)
    with pytest.raises(ValueError, match="no layer"):
        apply_adapters(m, {"nope.lora_A": torch.zeros(1, 1), "nope.lora_B": torch.zeros(1, 1)}, 1)


def test_rank_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(torch.nn.Linear(4, 4), r=0)
