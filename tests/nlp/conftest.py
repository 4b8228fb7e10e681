"""Shared fixtures: a tiny BERT + tokenizer saved to disk (the real loading path)."""
from __future__ import annotations

import string
from pathlib import Path

import pytest

TINY_CHARS = ("абвгдеёжзийклмнопрстуфхцчшщъыьэюя" + string.ascii_lowercase + string.digits
              + ".,!?-:;()«»—")


def build_tiny_encoder(out: Path) -> Path:
    """A 2-layer, 32-dim BertModel with a character-level Unigram tokenizer."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    pieces = specials + ["\u2581"] + [c for c in TINY_CHARS] + ["\u2581" + c for c in TINY_CHARS]
    vocab = [(p, 0.0 if p in specials else -5.0) for p in pieces]
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.post_processor = TemplateProcessing(single="<s> $A </s>",
                                            special_tokens=[("<s>", 0), ("</s>", 2)])
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                     unk_token="<unk>", pad_token="<pad>", model_max_length=64)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(pieces), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                        pad_token_id=1)
    BertModel(config, add_pooling_layer=False).save_pretrained(out)
    hf_tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(scope="session")
def tiny_encoder(tiny_encoder_dir: Path):
    from nlp.encoder import Encoder

    return Encoder(tiny_encoder_dir, device="cpu", batch_size=4)
