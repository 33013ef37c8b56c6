"""ONNX exports of local transformer models: made from the model directory on first use (no hub), attention
and layer norms fused, optionally int8 (dynamic, per channel), cached under $RAG_CACHE_DIR (default
~/.cache/grounded-rag) keyed by the model files and the exporting libraries' versions. The embedder and the
sequence classifiers of the verifier both run through these.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_dir() -> Path:
    return Path(os.environ.get("RAG_CACHE_DIR", Path.home() / ".cache" / "grounded-rag"))


def onnx_session(path: Path, threads: int | None) -> Any:
    """An ONNX Runtime CPU session whose idle threads yield the cores (they do not spin)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# files beside the weights that do not change the exported graph (the verifier's calibration, model cards)
NOT_WEIGHTS = {"calibration.json"}


def export_key(location: str, quantized: bool, head: str = "hidden") -> str:
    """A cache key that changes with the model files and the exporting libraries."""
    from importlib.metadata import version

    root = Path(location)
    listed = root.rglob("*") if root.is_dir() else []
    files = sorted(p for p in listed if p.is_file() and p.name not in NOT_WEIGHTS and p.suffix != ".md")
    stamp = [location, version("torch"), version("onnxruntime"), version("onnx"), quantized]
    stamp += [head] if head != "hidden" else []  # keeps the keys of existing embedder exports
    stamp += [(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in files]
    return hashlib.sha256(repr(stamp).encode()).hexdigest()[:16]


def exported_model(location: str, quantized: bool, head: str = "hidden") -> Path:
    """The cached ONNX file for a model directory, exported (and quantised) on first use.

    head "hidden": the encoder's last hidden state (embedders); "logits": a sequence-classification model's logits.
    """
    name = Path(location).name or "model"
    target = cache_dir() / "onnx" / f"{name}-{export_key(location, quantized, head)}" / "model.onnx"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as work, quiet_export():
            built = export_onnx(location, Path(work), quantized, head)
            os.replace(built, target)
    return target


class ToDebug(logging.Filter):
    """Demote records below ERROR to DEBUG: shown with --verbose, dropped otherwise. Only installed while a
    model is exported, when everything logged is the exporting libraries' report (ONNX Runtime's modules log
    under bare names such as "fusion_base", or on the root logger)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


@contextmanager
def quiet_export() -> Iterator[None]:
    """A first export's chatter goes to the log at debug level: ONNX Runtime reports each fusion and each
    quantised tensor (about 110 INFO lines, logged on the root logger) and transformers draws a weights bar."""
    from transformers.utils import logging as transformers_logging

    handlers, demote = list(logging.getLogger().handlers), ToDebug()
    bar = transformers_logging.is_progress_bar_enabled()
    for handler in handlers:
        handler.addFilter(demote)
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(demote)
        if bar:
            transformers_logging.enable_progress_bar()


def export_onnx(location: str, work: Path, quantized: bool, head: str = "hidden") -> Path:
    """Export the transformer to ONNX with fused attention; int8 weights when `quantized`."""
    from onnxruntime.transformers import optimizer

    raw, fused = work / "raw.onnx", work / "fused.onnx"
    config = torch_export(location, raw, head)
    model = optimizer.optimize_model(
        str(raw), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
    )
    model.save_model_to_file(str(fused))
    if not quantized:
        return fused
    return quantize(fused, work / "int8.onnx")


def quantize(source: Path, target: Path) -> Path:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        per_channel=True,
        weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return target


HEAD_OUTPUTS = {"hidden": "last_hidden_state", "logits": "logits"}


def torch_export(location: str, target: Path, head: str = "hidden") -> Any:
    """The transformer's head output to ONNX with dynamic batch and length; returns its config."""
    import warnings

    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification

    output = HEAD_OUTPUTS[head]

    class HeadOutput(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            outputs = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return getattr(outputs, output)

    loader = AutoModel if head == "hidden" else AutoModelForSequenceClassification
    model = loader.from_pretrained(location, attn_implementation="eager", dtype=torch.float32).eval()
    sample = (
        torch.ones((2, 8), dtype=torch.int64),
        torch.ones((2, 8), dtype=torch.int64),
        torch.zeros((2, 8), dtype=torch.int64),
    )
    axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "tokens"} for name in ONNX_INPUTS}
    axes[output] = {0: "batch"} if head == "logits" else {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            HeadOutput(model),
            sample,
            str(target),
            input_names=list(ONNX_INPUTS),
            output_names=[output],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return model.config
