"""Vector stores, chosen by name from the `store` setting: where an index generation's vectors live.

    faiss                                   a FAISS file in each generation directory (the default)
    milvus-lite:///path/index.db            a Milvus Lite database file, embedded in this process
    http://host:19530 (or https://)         a Milvus server or cluster

Whatever the store, the chunk texts, offsets and metadata stay in the generation's SQLite store, so quotes
resolve and the BM25 index is built from them; the manifest records the store's URI (and the Milvus
collection), so reading an index needs no store setting.

A store opens a generation's vectors to read (`reader`) or starts the vectors of a new generation (`writer`):
the writer changes nothing the live generation reads until `published()` runs after the atomic swap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag import registry
from rag.config import store_name
from rag.index.filters import Where
from rag.index.vectors import FaissIndex, VectorIndex

VECTORS = "vectors.faiss"
Allowed = Callable[[Where], np.ndarray]
Fields = Callable[[Sequence[int]], list[dict[str, Any]]]


class Described(Protocol):
    """What a store reads of a manifest (rag.index.generations.Manifest)."""

    dimension: int
    generation: int
    store: str
    collection: str


class VectorStore(Protocol):
    """Opens the vectors of index generations in one place (a directory, a Milvus database or server)."""

    uri: str

    def reader(self, generation: Path, manifest: Described, allowed: Allowed) -> VectorIndex: ...

    def writer(
        self, root: Path, base: Path | None, live: Described | None, manifest: Described, fields: Fields
    ) -> VectorIndex:
        """The vectors of generation `manifest.generation`, starting from those of `base` (the live generation's
        directory, None for an empty index); `live` is the live generation's manifest, even on a rebuild;
        `fields` gives the filter fields of chunk ids for a store that keeps them beside the vectors."""
        ...

    def collection(self, vectors: VectorIndex) -> str:
        """What the manifest records as the vectors' collection ("" when they are a file)."""
        ...


def open_store(uri: str) -> VectorStore:
    """The store a URI names (`faiss` or a Milvus URI)."""
    return registry.create("store", store_name(uri), uri)


class FaissStore:
    """FAISS vectors in a file beside the chunk store, copied into each new generation."""

    def __init__(self, uri: str = "faiss") -> None:
        self.uri = uri

    def reader(self, generation: Path, manifest: Described, allowed: Allowed) -> FaissIndex:
        return FaissIndex.load(generation / VECTORS, allowed=allowed)

    def writer(
        self, root: Path, base: Path | None, live: Described | None, manifest: Described, fields: Fields
    ) -> FaissIndex:
        return FaissIndex.load(base / VECTORS) if base is not None else FaissIndex(manifest.dimension)

    def collection(self, vectors: VectorIndex) -> str:
        return ""
