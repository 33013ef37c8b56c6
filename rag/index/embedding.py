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

import json
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, get_args

import numpy as np

from rag.config import EmbedderBackend, Settings
from rag.errors import ModelNotFoundError, RagError
from rag.exports import exported_model, onnx_session
from rag.models import force_offline, resolve_model

BACKENDS: tuple[str, ...] = get_args(EmbedderBackend)


class Runner(Protocol):
    """A loaded model behind one backend."""

    tokenizer: Any
    dimension: int
    max_seq_length: int

    def encode(self, texts: Sequence[str], batch_size: int, progress: bool) -> np.ndarray: ...


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise RagError(f"unknown embedder_backend {backend!r}; valid: {', '.join(BACKENDS)}")
    return backend


def default_backend() -> str:
    """The configured backend (RAG_EMBEDDER_BACKEND or the Settings default)."""
    return Settings().embedder_backend


def normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


class Embedder:
    """A sentence-transformers model by name, hub id or local path, loaded offline on first use (or at
    `warm_up()`). `encode` may be called from several threads: calls run one at a time, since a Hugging Face
    tokenizer's padding and truncation state is not thread-safe."""

    def __init__(self, name: str, batch_size: int = 64, threads: int | None = None, backend: str | None = None) -> None:
        self.name = name
        self.batch_size = batch_size
        self.threads = threads
        self.backend = check_backend(backend or default_backend())
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(settings.embedder, settings.embed_batch_size, settings.threads, settings.embedder_backend)

    def warm_up(self) -> None:
        _ = self.model

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
        with self._lock:
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


def fast_tokenizer(location: str, max_length: int) -> Any:
    """The model's tokenizer.json loaded with the `tokenizers` library alone (transformers would import torch, a
    second or more of start-up), truncating at `max_length` and padding nothing, as sentence-transformers calls it."""
    from tokenizers import Tokenizer

    path = Path(location) / "tokenizer.json"
    if not path.is_file():
        raise ValueError(f"{location} has no tokenizer.json: use embedder_backend=torch")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    return tokenizer


def pad_token_id(location: str, tokenizer: Any) -> int:
    """The id of the model's padding token (special_tokens_map.json), 0 when it names none."""
    special = Path(location) / "special_tokens_map.json"
    token = json.loads(special.read_text()).get("pad_token") if special.is_file() else None
    if isinstance(token, dict):
        token = token.get("content")
    found = tokenizer.token_to_id(token) if isinstance(token, str) else None
    return int(found) if found is not None else 0


class OnnxRunner:
    """The model exported to ONNX (optionally int8) and run with ONNX Runtime; pooling as configured."""

    def __init__(self, location: str, threads: int | None, quantized: bool) -> None:
        self.max_seq_length, self.pooling = sentence_config(location)
        self.tokenizer = fast_tokenizer(location, self.max_seq_length)
        self.pad_id = pad_token_id(location, self.tokenizer)
        self.session = onnx_session(exported_model(location, quantized), threads)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.dimension = int(self.encode(["dimension probe"], 1, False).shape[1])

    def encode(self, texts: Sequence[str], batch_size: int, progress: bool) -> np.ndarray:
        from tqdm import tqdm

        encodings = self.tokenizer.encode_batch(list(texts))
        ids, types = [e.ids for e in encodings], [e.type_ids for e in encodings]
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
        input_ids = padded([ids[i] for i in batch], self.pad_id)
        mask = padded([[1] * len(ids[i]) for i in batch], 0)
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = padded([types[i] for i in batch], 0) if types else np.zeros_like(mask)
        hidden = self.session.run(None, feed)[0]
        return normalised(pool(hidden, mask, self.pooling))
