"""Optional reranking: a cross-encoder (sentence-transformers CrossEncoder) reorders retrieved candidates.

No reranker ships in any package registry, so the stage is off unless `reranker` names a local model
directory or a cached hub id; a model that cannot be loaded offline is a one-line error naming the setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from rag.errors import ModelNotFoundError
from rag.models import force_offline, resolve_model
from rag.records import Chunk


class CrossEncoderReranker:
    """Scores (query, chunk text) pairs and orders chunk ids by that score, best first."""

    def __init__(self, name: str, batch_size: int = 32) -> None:
        self.name = name
        self.batch_size = batch_size

    @cached_property
    def model(self) -> Any:
        force_offline()
        from sentence_transformers import CrossEncoder

        try:
            return CrossEncoder(resolve_model("reranker", self.name), device="cpu")
        except (OSError, ValueError) as error:
            raise ModelNotFoundError("reranker", self.name, type(error).__name__) from error

    def rerank(self, query: str, chunks: Sequence[Chunk]) -> list[tuple[int, float]]:
        if not chunks:
            return []
        scores = self.model.predict([(query, c.text) for c in chunks], batch_size=self.batch_size)
        ranked = sorted(zip((c.chunk_id for c in chunks), map(float, scores), strict=True), key=lambda x: -x[1])
        return ranked
