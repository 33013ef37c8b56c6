"""The retriever: turns a query into ranked Passages by dense, BM25 or hybrid (RRF-fused) search.

Every passage carries its dense cosine similarity (`scores["dense"]`), whatever the mode, so that the
answering stage can abstain when nothing retrieved is relevant enough.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ingest.embedding import Embedder
from ingest.index import Index
from rag.config import Settings
from rag.records import Passage
from rag.registry import Registry
from rag.retrieval.fusion import FUSIONS
from rag.retrieval.rerank import CrossEncoderReranker

Ranking = list[tuple[int, float]]
MODES: Registry[Ranking] = Registry("retrieval mode")


class Retriever:
    """Searches one open index with the embedder it was built with."""

    def __init__(self, index: Index, embedder: Embedder, settings: Settings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.reranker = CrossEncoderReranker(settings.reranker) if settings.reranker else None

    def retrieve(self, query: str, k: int | None = None, mode: str | None = None) -> list[Passage]:
        k = k or self.settings.top_k
        search: Callable[[Retriever, str, np.ndarray, int], Ranking] = MODES.get(mode or self.settings.retrieval_mode)
        query_vector = self.embedder.encode([query])[0]
        ranking = search(self, query, query_vector, max(k, self.settings.candidates))
        if self.reranker is None:
            ranking = ranking[:k]
            chunks = self.index.store.chunks([chunk_id for chunk_id, _ in ranking])
        else:  # the candidates are read once: reranked, then the best k kept
            candidates = {c.chunk_id: c for c in self.index.store.chunks([i for i, _ in ranking])}
            ranking = self.reranker.rerank(query, list(candidates.values()))[:k]
            chunks = [candidates[chunk_id] for chunk_id, _ in ranking]
        dense = self._cosine(query_vector, [c.chunk_id for c in chunks])
        scores = dict(ranking)
        return [
            Passage(chunk=c, score=scores[c.chunk_id], rank=rank, scores={"dense": dense[c.chunk_id]})
            for rank, c in enumerate(chunks, start=1)
        ]

    def dense(self, query_vector: np.ndarray, n: int) -> Ranking:
        scores, ids = self.index.vectors.search(query_vector[None, :], n)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def lexical(self, query: str, n: int) -> Ranking:
        return self.index.bm25.search(query, n)

    def _cosine(self, query_vector: np.ndarray, chunk_ids: list[int]) -> dict[int, float]:
        if not chunk_ids:
            return {}
        vectors = self.index.vectors.vectors(chunk_ids)
        return {i: float(s) for i, s in zip(chunk_ids, vectors @ query_vector, strict=True)}


@MODES.register("dense")
def dense_mode(retriever: Retriever, query: str, query_vector: np.ndarray, n: int) -> Ranking:
    return retriever.dense(query_vector, n)


@MODES.register("bm25")
def bm25_mode(retriever: Retriever, query: str, query_vector: np.ndarray, n: int) -> Ranking:
    return retriever.lexical(query, n)


@MODES.register("hybrid")
def hybrid_mode(retriever: Retriever, query: str, query_vector: np.ndarray, n: int) -> Ranking:
    fuse = FUSIONS.get("rrf")
    rankings = [retriever.dense(query_vector, n), retriever.lexical(query, n)]
    return fuse(rankings, retriever.settings.rrf_k)
