"""The vector index: FAISS inner product over normalised vectors, keyed by chunk id so chunks can be removed.

`VectorIndex` is the interface a second vector store would implement; FAISS is the one shipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class VectorIndex(Protocol):
    """Add, remove and search vectors by 63-bit chunk id; saved to and loaded from one file."""

    dimension: int

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, path: Path) -> None: ...


class FaissIndex:
    """Exact inner-product search (IndexFlatIP) behind an id map (IndexIDMap2)."""

    def __init__(self, dimension: int, index: object | None = None) -> None:
        import faiss

        self.dimension = dimension
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        import faiss

        index = faiss.read_index(str(path))
        return cls(index.d, index)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (len(queries), k); missing hits have id -1."""
        k = max(1, min(k, len(self))) if len(self) else 1
        if not len(self):
            empty = np.full((len(queries), 1), -1, dtype=np.int64)
            return np.zeros_like(empty, dtype=np.float32), empty
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))
