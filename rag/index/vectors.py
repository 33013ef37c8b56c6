"""The vector index: FAISS inner product over normalised vectors, keyed by chunk id so chunks can be removed.

The index type follows the size, chosen again at every save:
    up to `flat_max` vectors   exact search, IndexIDMap2(IndexFlatIP)          ~1.6 KB a 384-d chunk
    above it                   IVF with 8-bit scalar quantisation, ids stored  ~0.45 KB a 384-d chunk
                               in the inverted lists and a hash-table direct
                               map, so removal and reconstruction by id work
HNSW is not used: it cannot remove vectors. IndexIDMap2 is not put over IVF either: its removal assumes the
wrapped index renumbers like a flat one, which IVF does not; IVF keeps arbitrary 63-bit ids itself.

A metadata filter (rag.index.filters.Where) reaches FAISS as the chunk ids the SQLite store says meet it
(`allowed`): up to `EXACT_FILTER_MAX` of them are scored exactly from their stored vectors, more are searched
with an id selector over the index.

`VectorIndex` is the interface of a vector store; FAISS (here) and Milvus (milvus.py) implement it, chosen
by the `store` setting (stores.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from rag.index.filters import Where

Kind = Literal["flat", "ivf"]

FLAT_MAX_VECTORS = 100_000  # exact search up to this many vectors: about 15 ms a query on 2 busy cores at 384-d
TRAIN_POINTS_PER_LIST = 40  # k-means sample size per inverted list (FAISS warns below 39)
KMEANS_ITERATIONS = 10
NPROBE_FRACTION = 1 / 16  # share of the inverted lists scanned per query
MIN_NPROBE = 16
FEW_QUERIES = 16  # below this many queries one OpenMP thread is faster (no wake-up and spin-wait on busy cores)
EXACT_FILTER_MAX = 20_000  # a filter that leaves at most this many chunks is scored exactly, whatever the index


class VectorIndex(Protocol):
    """Add, remove and search vectors by 63-bit chunk id; saved to and loaded from one file."""

    dimension: int

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int, where: Where | None = None) -> tuple[np.ndarray, np.ndarray]: ...

    def vectors(self, ids: np.ndarray | list[int]) -> np.ndarray: ...

    def ids(self) -> np.ndarray: ...

    def save(self, path: Path) -> None: ...

    def published(self) -> None:
        """Called once the generation this index was written for is live."""


def kind_for(count: int, flat_max: int = FLAT_MAX_VECTORS) -> Kind:
    """The index type for `count` vectors."""
    return "flat" if count <= flat_max else "ivf"


def nlist_for(count: int) -> int:
    """Inverted lists for `count` vectors: the power of two nearest sqrt(count), at least 16."""
    return max(16, 2 ** round(math.log2(math.sqrt(max(count, 1)))))


def nprobe_for(nlist: int) -> int:
    """Lists scanned per query; recall@10 against flat stays above 0.95 on clustered data (bench/scale.py)."""
    return min(nlist, max(MIN_NPROBE, round(nlist * NPROBE_FRACTION)))


def _as_ids(ids: np.ndarray | list[int]) -> np.ndarray:
    return np.ascontiguousarray(ids, dtype=np.int64)


def _as_vectors(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vectors, dtype=np.float32)


@contextmanager
def omp_threads(count: int) -> Iterator[None]:
    """Run FAISS with `count` OpenMP threads in this thread (OpenMP keeps the setting per thread)."""
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def new_flat(dimension: int) -> Any:
    import faiss

    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def new_ivf(ids: np.ndarray, vectors: np.ndarray, seed: int = 0) -> Any:
    """An IVF-SQ8 index trained on a sample of `vectors`, holding all of them under their ids."""
    import faiss

    count, dimension = vectors.shape
    nlist = nlist_for(count)
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dimension, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    index.cp.niter = KMEANS_ITERATIONS
    index.cp.seed = seed
    sample = np.random.default_rng(seed).permutation(count)[: nlist * TRAIN_POINTS_PER_LIST]
    index.train(vectors[np.sort(sample)])
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    index.add_with_ids(_as_vectors(vectors), _as_ids(ids))
    index.nprobe = nprobe_for(nlist)
    return index


class FaissIndex:
    """Inner-product search by chunk id; flat (exact) while small, IVF-SQ8 once past `flat_max`."""

    def __init__(
        self,
        dimension: int,
        index: Any = None,
        flat_max: int = FLAT_MAX_VECTORS,
        allowed: Callable[[Where], np.ndarray] | None = None,
    ) -> None:
        self.dimension = dimension
        self.flat_max = flat_max
        self.index = index if index is not None else new_flat(dimension)
        self.allowed = allowed  # the ids that meet a filter, from the chunk store

    @classmethod
    def load(
        cls, path: Path, flat_max: int = FLAT_MAX_VECTORS, allowed: Callable[[Where], np.ndarray] | None = None
    ) -> FaissIndex:
        import faiss

        index = faiss.read_index(str(path))
        return cls(index.d, index, flat_max, allowed)

    @property
    def kind(self) -> Kind:
        return "ivf" if hasattr(self.index, "nlist") else "flat"

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(_as_vectors(vectors), _as_ids(ids))

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self.index.remove_ids(_as_ids(ids))

    def search(self, queries: np.ndarray, k: int, where: Where | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (len(queries), k); missing hits have id -1. With `where`, only chunks that
        meet it."""
        allowed = self._allowed(where)
        if not len(self) or (allowed is not None and not len(allowed)):
            empty = np.full((len(queries), 1), -1, dtype=np.int64)
            return np.zeros_like(empty, dtype=np.float32), empty
        queries, k = _as_vectors(queries), max(1, min(k, len(self)))
        if allowed is not None and len(allowed) <= EXACT_FILTER_MAX:
            return exact_top_k(queries, allowed, self.vectors(allowed), k)
        with omp_threads(1) if len(queries) < FEW_QUERIES else nullcontext():
            return self.index.search(queries, k, params=self._selector(allowed))

    def _allowed(self, where: Where | None) -> np.ndarray | None:
        if not where:
            return None
        if self.allowed is None:
            raise TypeError("this FaissIndex was opened without a chunk store to filter through")
        return self.allowed(where)

    def _selector(self, allowed: np.ndarray | None) -> Any:
        import faiss

        if allowed is None:
            return None
        selector = faiss.IDSelectorBatch(_as_ids(allowed))
        if self.kind == "ivf":
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.index.nprobe)
        return faiss.SearchParameters(sel=selector)

    def vectors(self, ids: np.ndarray | list[int]) -> np.ndarray:
        """The stored vectors of `ids`, one row each (IVF-SQ8 gives them back to within about 1e-3)."""
        ids = _as_ids(ids)
        if not len(ids):
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.index.reconstruct_batch(ids)

    def ids(self) -> np.ndarray:
        """Every stored id (order unspecified)."""
        import faiss

        if self.kind == "flat":
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        lists = self.index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(n), lists.list_size(n)).copy()
            for n in range(self.index.nlist)
            if lists.list_size(n)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def needs_rebuild(self) -> bool:
        """True when the size calls for the other index type, or for an IVF with 4x more or fewer lists."""
        wanted = kind_for(len(self), self.flat_max)
        if wanted != self.kind:
            return True
        return wanted == "ivf" and not 0.25 <= self.index.nlist / nlist_for(len(self)) <= 4

    def fit(self) -> None:
        """Rebuild as the index type the current size calls for, when needed."""
        if not self.needs_rebuild():
            return
        ids = self.ids()
        vectors = self.vectors(ids)
        if kind_for(len(ids), self.flat_max) == "flat":
            self.index = new_flat(self.dimension)
            self.add(ids, vectors)
        else:
            self.index = new_ivf(ids, vectors)

    def save(self, path: Path) -> None:
        import faiss

        self.fit()
        faiss.write_index(self.index, str(path))

    def published(self) -> None:
        """Nothing to do: the file saved in the generation directory is the index."""


def exact_top_k(queries: np.ndarray, ids: np.ndarray, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best k of `ids` for each query by inner product, as (scores, ids) padded to k with id -1 as FAISS
    pads them."""
    scores = queries @ vectors.T
    best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top_scores = np.full((len(queries), k), -np.finfo(np.float32).max, dtype=np.float32)
    top_ids = np.full((len(queries), k), -1, dtype=np.int64)
    top_scores[:, : best.shape[1]] = np.take_along_axis(scores, best, axis=1)
    top_ids[:, : best.shape[1]] = _as_ids(ids)[best]
    return top_scores, top_ids
