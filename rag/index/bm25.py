"""The lexical index: BM25 over chunk texts with bm25s, rebuilt from the chunk store at each ingest."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

STOPWORDS = "en"


def _bm25s() -> Any:
    """bm25s, with the DEBUG level it sets on its own logger at import turned back down."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("english")


class BM25Index:
    """bm25s index plus the chunk ids its rows stand for."""

    def __init__(self, retriever: object | None, chunk_ids: np.ndarray) -> None:
        self.retriever = retriever
        self.chunk_ids = chunk_ids
        self.stemmer = _stemmer()

    @classmethod
    def build(cls, rows: Iterable[tuple[int, str]]) -> BM25Index:
        bm25s = _bm25s()
        ids: list[int] = []
        texts: list[str] = []
        for chunk_id, text in rows:
            ids.append(chunk_id)
            texts.append(text)
        if not texts:
            return cls(None, np.zeros(0, dtype=np.int64))
        index = cls(None, np.asarray(ids, dtype=np.int64))
        tokens = bm25s.tokenize(texts, stopwords=STOPWORDS, stemmer=index.stemmer, show_progress=False)
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        index.retriever = retriever
        return index

    @classmethod
    def load(cls, directory: Path) -> BM25Index:
        bm25s = _bm25s()
        ids = np.load(directory / "chunk_ids.npy")
        if not len(ids):
            return cls(None, ids)
        return cls(bm25s.BM25.load(str(directory), mmap=False), ids)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "chunk_ids.npy", self.chunk_ids)
        if self.retriever is not None:
            self.retriever.save(str(directory))

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(chunk_id, score) of the best k chunks with a positive score; only ids in `allowed` (sorted) if given."""
        bm25s = _bm25s()
        if self.retriever is None or not query.strip() or (allowed is not None and not len(allowed)):
            return []
        tokens = bm25s.tokenize([query], stopwords=STOPWORDS, stemmer=self.stemmer, show_progress=False)
        if not tokens.vocab:
            return []
        k = min(k, len(self.chunk_ids))
        mask = None if allowed is None else np.isin(self.chunk_ids, allowed, assume_unique=True).astype(np.float32)
        rows, scores = self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1, weight_mask=mask)
        return [
            (int(self.chunk_ids[row]), float(score)) for row, score in zip(rows[0], scores[0], strict=True) if score > 0
        ]
