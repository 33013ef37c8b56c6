"""Embedding: a sentence-transformers model loaded once, offline; vectors come back normalised float32.

Backends (setting `embedder_backend`):
    torch      sentence-transformers on PyTorch, the reference
    onnx       the same weights exported locally to ONNX, attention and layer norms fused, ONNX Runtime
    onnx-int8  that export with dynamically quantised int8 weights (per channel): fastest on CPU

The ONNX files are made from the local model directory on first use, without the hub, and cached under
$RAG_CACHE_DIR (default ~/.cache/grounded-rag) keyed by the model files and library versions. Inputs are
tokenised once, sorted by length and batched, so a batch pads to its own longest text rather than the corpus's.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.errors import ModelNotFoundError, RagError
from rag.models import force_offline, resolve_model

BACKENDS = ("torch", "onnx", "onnx-int8")
DEFAULT_BACKEND = "onnx-int8"
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class Runner(Protocol):
    """A loaded model behind one backend."""

    tokenizer: Any
    dimension: int
    max_seq_length: int

    def encode(self, texts: Sequence[str], batch_size: int, progress: bool) -> np.ndarray: ...


def cache_dir() -> Path:
    return Path(os.environ.get("RAG_CACHE_DIR", Path.home() / ".cache" / "grounded-rag"))


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise RagError(f"unknown embedder_backend {backend!r}; valid: {', '.join(BACKENDS)}")
    return backend


def default_backend() -> str:
    """The configured backend (RAG_EMBEDDER_BACKEND or the Settings default)."""
    from rag.config import Settings

    return Settings().embedder_backend


def normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


class Embedder:
    """A sentence-transformers model by name, hub id or local path, loaded offline on first use."""

    def __init__(self, name: str, batch_size: int = 64, threads: int | None = None, backend: str | None = None) -> None:
        self.name = name
        self.batch_size = batch_size
        self.threads = threads
        self.backend = check_backend(backend or default_backend())

    @classmethod
    def from_settings(cls, settings: Any) -> Embedder:
        return cls(settings.embedder, settings.embed_batch_size, settings.threads, settings.embedder_backend)

    @cached_property
    def model(self) -> Runner:
        force_offline()
        location = resolve_model("embedder", self.name)
        try:
            if self.backend == "torch":
                return TorchRunner(location, self.threads)
            return OnnxRunner(location, self.threads, quantized=self.backend == "onnx-int8")
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError("embedder", self.name, type(exc).__name__) from exc

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    @property
    def dimension(self) -> int:
        return self.model.dimension

    @property
    def max_tokens(self) -> int:
        """Longest input in tokens, special tokens excluded."""
        return self.model.max_seq_length - 2

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.model.encode(list(texts), self.batch_size, progress)


class TorchRunner:
    """sentence-transformers on PyTorch."""

    def __init__(self, location: str, threads: int | None) -> None:
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()
        if threads:
            torch.set_num_threads(threads)
        self.model = SentenceTransformer(location, device="cpu")
        self.tokenizer = self.model.tokenizer
        get_dimension = (
            getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        )
        self.dimension = int(get_dimension())
        self.max_seq_length = int(self.model.max_seq_length)

    def encode(self, texts: Sequence[str], batch_size: int, progress: bool) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def sentence_config(location: str) -> tuple[int, str]:
    """(max_seq_length, pooling) from a sentence-transformers model directory."""
    root = Path(location)
    config_file, pooling_file = root / "sentence_bert_config.json", root / "1_Pooling" / "config.json"
    max_length = json.loads(config_file.read_text()).get("max_seq_length", 512) if config_file.is_file() else 512
    pooling = json.loads(pooling_file.read_text()) if pooling_file.is_file() else {"pooling_mode_mean_tokens": True}
    if pooling.get("pooling_mode_cls_token"):
        return int(max_length), "cls"
    if pooling.get("pooling_mode_mean_tokens"):
        return int(max_length), "mean"
    raise ValueError(f"pooling {pooling} is not supported by the ONNX backend; use embedder_backend=torch")


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    if mode == "cls":
        return hidden[:, 0]
    weights = mask[..., None].astype(np.float32)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def length_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices grouped into batches of similar length (longest first, so memory peaks early)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def padded(rows: Sequence[Sequence[int]], pad: int) -> np.ndarray:
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), pad, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


class OnnxRunner:
    """The model exported to ONNX (optionally int8) and run with ONNX Runtime; pooling as configured."""

    def __init__(self, location: str, threads: int | None, quantized: bool) -> None:
        from transformers import AutoTokenizer

        self.max_seq_length, self.pooling = sentence_config(location)
        self.tokenizer = AutoTokenizer.from_pretrained(location)
        self.session = onnx_session(exported_model(location, quantized), threads)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.dimension = int(self.encode(["dimension probe"], 1, False).shape[1])

    def encode(self, texts: Sequence[str], batch_size: int, progress: bool) -> np.ndarray:
        from tqdm import tqdm

        tokens = self.tokenizer(list(texts), truncation=True, max_length=self.max_seq_length)
        ids, types = tokens["input_ids"], tokens.get("token_type_ids")
        batches = length_batches([len(r) for r in ids], batch_size)
        out: np.ndarray | None = None
        for batch in tqdm(batches, desc="embed", unit="batch", disable=not progress):
            vectors = self._run(batch, ids, types)
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[batch] = vectors
        assert out is not None
        return out

    def _run(self, batch: np.ndarray, ids: list[list[int]], types: list[list[int]] | None) -> np.ndarray:
        input_ids = padded([ids[i] for i in batch], self.tokenizer.pad_token_id or 0)
        mask = padded([[1] * len(ids[i]) for i in batch], 0)
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = padded([types[i] for i in batch], 0) if types else np.zeros_like(mask)
        hidden = self.session.run(None, feed)[0]
        return normalised(pool(hidden, mask, self.pooling))


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
        with tempfile.TemporaryDirectory(dir=target.parent) as work:
            built = export_onnx(location, Path(work), quantized, head)
            os.replace(built, target)
    return target


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
