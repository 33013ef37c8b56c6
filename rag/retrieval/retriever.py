"""Retrieval: turns a query into ranked Passages by dense, BM25 or hybrid (RRF-fused) search over one index.

A metadata filter (`where`, rag.index.filters) restricts every mode to the chunks that meet it; the index's
vector store applies it to dense search and the chunk store's matching ids restrict BM25.
Every passage carries its dense cosine similarity (`scores["dense"]`), whatever the mode, so that the
answering stage can abstain when nothing retrieved is relevant enough. The index opens at `warm_up()` or on
first use; `reopened()` is a retriever on the index's newest generation that shares the loaded embedder.
`Retriever` is the interface the pipeline needs; `IndexRetriever` the implementation over an index directory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag import registry
from rag.config import Settings
from rag.index.embedding import Embedder
from rag.index.filters import Where
from rag.index.generations import Index
from rag.records import Passage
from rag.retrieval.rerank import CrossEncoderReranker

Ranking = list[tuple[int, float]]
RankingFunction = Callable[["IndexRetriever", str, np.ndarray, int, Where | None], Ranking]


class Retriever(Protocol):
    """Ranked passages for a query, and the documents behind them."""

    embedder: Any

    def warm_up(self) -> None: ...

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        query_vector: np.ndarray | None = None,
        where: Where | None = None,
    ) -> list[Passage]: ...

    def document(self, doc_id: str) -> dict[str, Any] | None: ...

    def stats(self) -> dict[str, Any]: ...

    def is_stale(self) -> bool: ...

    def reopened(self) -> Retriever: ...


class IndexRetriever:
    """Searches one index with the embedder it was built with."""

    def __init__(self, root: Path, embedder: Embedder, settings: Settings) -> None:
        self.root = Path(root)
        self.embedder = embedder
        self.settings = settings
        self.reranker = CrossEncoderReranker(settings.reranker) if settings.reranker else None

    @cached_property
    def index(self) -> Index:
        return Index.open(self.root, embedder=self.settings.embedder, backend=self.settings.embedder_backend)

    def warm_up(self) -> None:
        _ = self.index
        self.embedder.warm_up()
        if self.reranker is not None:
            _ = self.reranker.model

    def reopened(self) -> IndexRetriever:
        """A retriever on the live generation of the same index, sharing this one's embedder."""
        return IndexRetriever(self.root, self.embedder, self.settings)

    def is_stale(self) -> bool:
        """True once an ingest has swapped in a newer generation than the one this retriever reads."""
        return self.index.is_stale()

    def document(self, doc_id: str) -> dict[str, Any] | None:
        return self.index.store.document(doc_id)

    def stats(self) -> dict[str, Any]:
        """What the index holds and what it was built with."""
        index = self.index
        return {"generation": index.generation.name, **index.store.counts(), "manifest": asdict(index.manifest)}

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        query_vector: np.ndarray | None = None,
        where: Where | None = None,
    ) -> list[Passage]:
        """The best k passages that meet `where`; `query_vector` is the query's embedding when the caller has it
        already."""
        k = k or self.settings.top_k
        search: RankingFunction = registry.resolve("retrieval mode", mode or self.settings.retrieval_mode)
        _ = self.index  # a missing or damaged index is reported before the embedder loads
        if query_vector is None:
            query_vector = self.embedder.encode([query])[0]
        ranking = search(self, query, query_vector, max(k, self.settings.candidates), where or None)
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

    def dense(self, query_vector: np.ndarray, n: int, where: Where | None = None) -> Ranking:
        scores, ids = self.index.vectors.search(query_vector[None, :], n, where)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def lexical(self, query: str, n: int, where: Where | None = None) -> Ranking:
        return self.index.bm25.search(query, n, self.index.allowed(where) if where else None)

    def _cosine(self, query_vector: np.ndarray, chunk_ids: list[int]) -> dict[int, float]:
        if not chunk_ids:
            return {}
        vectors = self.index.vectors.vectors(chunk_ids)
        return {i: float(s) for i, s in zip(chunk_ids, vectors @ query_vector, strict=True)}


def reciprocal_rank_fusion(rankings: Sequence[Sequence[tuple[int, float]]], k: int = 60) -> Ranking:
    """Cormack et al.'s RRF: score(d) = sum over rankings of 1 / (k + rank of d), best first."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def dense_ranking(
    retriever: IndexRetriever, query: str, query_vector: np.ndarray, n: int, where: Where | None = None
) -> Ranking:
    return retriever.dense(query_vector, n, where)


def bm25_ranking(
    retriever: IndexRetriever, query: str, query_vector: np.ndarray, n: int, where: Where | None = None
) -> Ranking:
    return retriever.lexical(query, n, where)


def hybrid_ranking(
    retriever: IndexRetriever, query: str, query_vector: np.ndarray, n: int, where: Where | None = None
) -> Ranking:
    rankings = [retriever.dense(query_vector, n, where), retriever.lexical(query, n, where)]
    return reciprocal_rank_fusion(rankings, retriever.settings.rrf_k)
