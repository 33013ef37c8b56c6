"""Embedding with sentence-transformers: the model loads once, vectors come back normalised float32."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from rag.errors import ModelNotFoundError
from rag.models import force_offline, resolve_model


class Embedder:
    """A sentence-transformers model by name, hub id or local path, loaded offline on first use."""

    def __init__(self, name: str, batch_size: int = 64, threads: int | None = None) -> None:
        self.name = name
        self.batch_size = batch_size
        self.threads = threads

    @cached_property
    def model(self) -> Any:
        force_offline()
        location = resolve_model("embedder", self.name)
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()

        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            return SentenceTransformer(location, device="cpu")
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError("embedder", self.name, type(exc).__name__) from exc

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    @property
    def dimension(self) -> int:
        model = self.model
        get_dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dimension())

    @property
    def max_tokens(self) -> int:
        """Longest input in tokens, special tokens excluded."""
        return int(self.model.max_seq_length) - 2

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
