"""ONNX export (+ dynamic int8 quantisation) of a sequence-classification model for CPU.

Why: on CPU the encoder is the whole cost of labelling. ONNX Runtime with int8 MatMul
weights is several times faster than torch fp32 on the same cores; the logits and the
mean-pooled, L2-normalised embedding are computed *inside* the graph, so one
``session.run`` gives everything ``TextModel.run`` returns.

The graph is exported with torch's dynamo exporter (needs ``onnxscript``): the older
TorchScript exporter traces transformers 5's attention-mask code wrongly and gives
silently different numbers. Every export is checked against torch before it is cached.

Cache: ``$SLUKH_CACHE/onnx/<weights fingerprint>-int8/`` (or ``-fp32``), built once and
moved into place atomically, so concurrent workers never see a half-written model.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from nlp.textmodel import TextModel

log = logging.getLogger(__name__)

OUTPUTS = ("logits", "text_embedding")  # "embedding" clashes with a node name in the graph
OPSET = 18
#: Quantise only the MatMuls (the encoder's compute). The word-embedding Gather stays
#: fp32 (int8 saves disk, not time), and so do the feed-forward down-projections, whose
#: GELU outputs have outliers: on e5-small that lifts the mean embedding cosine to fp32
#: from 0.996 to 0.998 at about 5% of the int8 speed. Per-channel weight scales: per-tensor
#: gave a mean cosine of 0.988 (measurements in BENCHMARKS.md, "NLP throughput").
QUANT_OP_TYPES = ("MatMul",)
PER_CHANNEL = True
EXPORT_TOLERANCE = 1e-3  # max |onnx fp32 - torch fp32| accepted on the check inputs


class OnnxExportError(RuntimeError):
    """The model cannot be exported to ONNX, or the export does not match torch."""


class _LogitsAndEmbedding:
    """Factory for the nn.Module wrapper (torch is imported lazily)."""

    @staticmethod
    def wrap(model: Any) -> Any:
        import torch

        from nlp.textmodel import logits_and_embeddings

        class Wrapped(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, Any]:
                return logits_and_embeddings(self.inner, input_ids, attention_mask)

        return Wrapped(model).eval()


def _check_inputs(vocab_size: int, pad_id: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Small batches with and without padding, of shapes other than the export example."""
    rng = np.random.default_rng(0)
    out = []
    for b, s in ((3, 9), (1, 4), (5, 17)):
        ids = rng.integers(5, vocab_size, size=(b, s)).astype(np.int64)
        mask = np.ones((b, s), dtype=np.int64)
        if b > 1:
            mask[-1, s // 2:] = 0
            ids[-1, s // 2:] = pad_id
        out.append((ids, mask))
    return out


# The exporter and its graph optimiser log every pass at INFO (over a hundred lines such as
# "Replaced initializer 'val_578'…") and warn that torchvision is absent: keep them out of
# the user's console during the one-off export; real errors still raise.
EXPORTER_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx")


@contextlib.contextmanager
def _quiet(names: tuple[str, ...], level: int = logging.ERROR):
    loggers = [logging.getLogger(n) for n in names]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(level)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, before):
            lg.setLevel(lv)


def export_onnx(model_dir: str | Path, out_dir: str | Path, quantize: bool = True,
                model: Any = None) -> Path:
    """Export ``model_dir``'s ``*ForSequenceClassification`` to ``out_dir/model.onnx``.

    Inputs ``input_ids``/``attention_mask`` (int64, dynamic batch and sequence axes);
    outputs ``logits`` [batch, labels] and ``text_embedding`` [batch, hidden] (mean-pooled,
    L2-normalised last hidden state). With ``quantize`` the file is the dynamic-int8
    version and the fp32 intermediate is deleted. ``model`` may pass an already loaded
    fp32 torch model. Returns the model file's path; ``out_dir/meta.json`` says what it is.
    """
    import onnx
    import onnxruntime as ort
    import torch
    from transformers import AutoModelForSequenceClassification

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if model is None:
        model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
    cfg = model.config
    if hasattr(model, "set_attn_implementation"):  # plain MatMul/Softmax attention: the
        model.set_attn_implementation("eager")     # SDPA export adds IsNaN/Where per layer
    wrapped = _LogitsAndEmbedding.wrap(model)
    pad_id = int(cfg.pad_token_id or 0)
    ids = torch.randint(5, int(cfg.vocab_size), (2, 16))
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0  # a padded row, so masking is part of what gets exported
    fp32_path = out_dir / ("model.fp32.onnx" if quantize else "model.onnx")
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            OUTPUTS[0]: {0: "batch"}, OUTPUTS[1]: {0: "batch"}}
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), warnings.catch_warnings(), \
                _quiet(EXPORTER_LOGGERS), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # exporter deprecation chatter, not our problem
            torch.onnx.export(wrapped, (ids, mask), str(fp32_path), dynamo=True,
                              input_names=["input_ids", "attention_mask"],
                              output_names=list(OUTPUTS), dynamic_axes=axes,
                              opset_version=OPSET, external_data=False)
    except Exception as e:  # noqa: BLE001 - exporter errors are many and unrelated
        raise OnnxExportError(f"torch.onnx.export failed for {model_dir}: {e}") from e
    log.debug("exporter output: %s", chatter.getvalue())
    # The exporter's value_info contradicts ONNX shape inference on some Reshape shapes,
    # which makes quantize_dynamic fail: drop it, runtimes re-infer shapes anyway.
    graph = onnx.load(str(fp32_path))
    del graph.graph.value_info[:]
    onnx.save(graph, str(fp32_path))
    onnx.checker.check_model(str(fp32_path))

    sess = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for c_ids, c_mask in _check_inputs(int(cfg.vocab_size), pad_id):
        got = sess.run(list(OUTPUTS), {"input_ids": c_ids, "attention_mask": c_mask})
        with torch.no_grad():
            want = wrapped(torch.from_numpy(c_ids), torch.from_numpy(c_mask))
        worst = max(worst, *(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want)))
    if worst > EXPORT_TOLERANCE:
        raise OnnxExportError(f"ONNX export of {model_dir} differs from torch by {worst:.3g} "
                              f"(> {EXPORT_TOLERANCE}); not using it")
    del sess

    final = fp32_path
    if quantize:
        final = out_dir / "model.onnx"
        quantize_int8(fp32_path, final, keep_fp32=_ffn_down_matmuls(fp32_path,
                                                                    int(cfg.intermediate_size)))
        fp32_path.unlink()
    meta = {"source": str(model_dir), "quantized": quantize, "opset": OPSET,
            "outputs": list(OUTPUTS), "max_abs_diff_fp32_vs_torch": worst,
            "quant_op_types": list(QUANT_OP_TYPES) if quantize else [],
            "per_channel": PER_CHANNEL if quantize else None,
            "fp32_ffn_down_projections": quantize,
            "torch": torch.__version__, "onnx": onnx.__version__,
            "onnxruntime": ort.__version__, "model_type": cfg.model_type}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return final


def _ffn_down_matmuls(path: Path, intermediate_size: int) -> list[str]:
    """Names of the MatMuls whose weight is [intermediate_size, hidden] (FFN output)."""
    import onnx

    graph = onnx.load(str(path)).graph
    shapes = {i.name: list(i.dims) for i in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "MatMul"
            and any(len(shapes.get(x, [])) == 2 and shapes[x][0] == intermediate_size
                    for x in n.input)]


def quantize_int8(fp32_path: Path, int8_path: Path, keep_fp32: list[str] | None = None,
                  op_types: tuple[str, ...] = QUANT_OP_TYPES,
                  per_channel: bool = PER_CHANNEL) -> None:
    """Dynamic int8 quantisation (int8 weights, uint8 activations scaled per batch);
    nodes named in ``keep_fp32`` stay fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet(("",)):  # root logger: "consider pre-processing" is advice for CNNs
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8,
                         per_channel=per_channel, op_types_to_quantize=list(op_types),
                         nodes_to_exclude=list(keep_fp32 or []))


def onnx_cache_dir(weights_fingerprint: str, quantize: bool) -> Path:
    from nlp.encoder_build import slukh_cache

    return slukh_cache() / "onnx" / f"{weights_fingerprint}-{'int8' if quantize else 'fp32'}"


def ensure_onnx(tm: TextModel, quantize: bool = True) -> Path:
    """The cached export for ``tm``'s weights, building it on first use.

    Built in a temporary sibling folder and renamed into place, so a crash or a
    concurrent builder never leaves a half-written model where readers look."""
    final = onnx_cache_dir(tm.weights_fingerprint, quantize)
    model_file = final / "model.onnx"
    if model_file.is_file():
        return model_file
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        log.info("exporting %s to ONNX (%s), once", tm.name, "int8" if quantize else "fp32")
        export_onnx(tm.path, tmp, quantize=quantize, model=tm.torch_model())
        try:
            os.rename(tmp, final)
        except OSError:  # another process won the race: use its copy
            if not model_file.is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return model_file
