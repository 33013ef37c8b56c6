"""The index directory: generations written aside and swapped in atomically, plus the manifest check.

Layout of an index directory:
    CURRENT                  name of the live generation (replaced atomically with os.replace)
    gen-000007/manifest.json format version, embedder, dimension, chunking settings, counts
    gen-000007/chunks.sqlite documents and chunks
    gen-000007/vectors.faiss dense vectors by chunk id (store=faiss; with a Milvus store they are in the
                             Milvus collection the manifest names, see rag/index/milvus.py)
    gen-000007/bm25/         lexical index
An ingest copies the live generation into a new one, changes the copy and only then points CURRENT at
it, so a crash, Ctrl-C or bad file at any moment leaves the previous generation live and intact.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import sqlite3
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from types import TracebackType

import numpy as np

from rag.errors import IndexMismatchError, RagError
from rag.index.bm25 import BM25Index
from rag.index.filters import Where
from rag.index.store import ChunkStore
from rag.index.stores import VECTORS, open_store
from rag.index.vectors import VectorIndex

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
STORE = "chunks.sqlite"
BM25_DIR = "bm25"


@dataclass(frozen=True)
class Manifest:
    """What an index was built with; an index is only read with the same format and embedder."""

    embedder: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    embedder_backend: str = "torch"  # indexes from before the field were all built with torch
    format_version: int = FORMAT_VERSION
    generation: int = 0
    documents: int = 0
    chunks: int = 0
    store: str = "faiss"  # the vector store's URI (rag/index/stores.py)
    collection: str = ""  # the Milvus collection of a Milvus store

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        data = json.loads((directory / MANIFEST).read_text())
        if data.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"index {directory.parent} has format version {data.get('format_version')}, this version "
                f"reads {FORMAT_VERSION}: re-ingest it with `rag ingest DOCS --index {directory.parent} --rebuild`"
            )
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def write(self, directory: Path) -> None:
        _write_durably(directory / MANIFEST, json.dumps(asdict(self), indent=2))


def _write_durably(path: Path, text: str) -> None:
    """Write a small file and fsync it, through a temporary name so readers never see half of it."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _fsync_tree(directory: Path) -> None:
    for path in [*directory.rglob("*"), directory]:
        flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
        descriptor = os.open(path, flags)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def live_generation(root: Path) -> Path | None:
    """The directory of the live generation, or None for a new (empty or absent) index directory."""
    pointer = root / CURRENT
    if pointer.exists():
        return root / pointer.read_text().strip()
    if root.exists() and any(p for p in root.iterdir() if not p.name.startswith(".")):
        raise IndexMismatchError(
            f"{root} is not an index of this version (no {CURRENT} file): "
            f"re-ingest into it with --rebuild, or choose an empty directory"
        )
    return None


def check_compatible(manifest: Manifest, root: Path, embedder: str | None, backend: str | None = None) -> None:
    if embedder is not None and manifest.embedder != embedder:
        raise IndexMismatchError(
            f"index {root} was built with embedder {manifest.embedder!r}, not {embedder!r}: set "
            f"RAG_EMBEDDER={manifest.embedder} or re-ingest with `rag ingest DOCS --index {root} --rebuild`"
        )
    if backend is not None and manifest.embedder_backend != backend:
        raise IndexMismatchError(
            f"index {root} was embedded with embedder_backend {manifest.embedder_backend!r}, not {backend!r}: set "
            f"RAG_EMBEDDER_BACKEND={manifest.embedder_backend} or re-ingest (`rag ingest DOCS --index {root}` "
            "re-embeds it)"
        )


def check_store(manifest: Manifest, root: Path, store: str) -> None:
    if manifest.store != store:
        raise IndexMismatchError(
            f"index {root} keeps its vectors in {manifest.store}, not {store}: leave --store out to update it, "
            f"or move it with `rag ingest DOCS --index {root} --store {store} --rebuild`"
        )


class Index:
    """A read-only view of the live generation: manifest, chunk store, vectors and BM25."""

    def __init__(self, root: Path, generation: Path, manifest: Manifest) -> None:
        self.root = root
        self.generation = generation
        self.manifest = manifest
        self.store = ChunkStore(generation / STORE, read_only=True)
        self.allowed = lru_cache(maxsize=32)(self._allowed)
        self.vectors: VectorIndex = open_store(manifest.store).reader(generation, manifest, self.allowed)
        self.bm25 = BM25Index.load(generation / BM25_DIR)

    def _allowed(self, where: Where) -> np.ndarray:
        """The ids of the chunks that meet a filter, sorted (cached: a generation never changes)."""
        return np.sort(np.asarray(self.store.ids_where(where), dtype=np.int64))

    @classmethod
    def open(cls, root: Path | str, embedder: str | None = None, backend: str | None = None) -> Index:
        """Open the live index; `embedder` and `backend` (when given) must match what it was built with."""
        root = Path(root)
        generation = live_generation(root)
        if generation is None:
            raise RagError(f"no index at {root}: build one with `rag ingest DOCS --index {root}`")
        manifest = Manifest.read(generation)
        check_compatible(manifest, root, embedder, backend)
        return cls(root, generation, manifest)

    def is_stale(self) -> bool:
        """True once another ingest has swapped in a newer generation."""
        return live_generation(self.root) != self.generation

    def close(self) -> None:
        self.store.close()


class IndexWriter:
    """Copy the live generation aside, let the caller change it, then swap it in atomically on commit.

    Used as a context manager; leaving the block with an exception, or after `discard()`, discards the new
    generation and leaves the live one as it was.
    """

    def __init__(self, root: Path, manifest: Manifest, rebuild: bool = False, store: str | None = None) -> None:
        self.root = root
        self.rebuild = rebuild
        self.manifest = manifest
        self.requested_store = store  # None: the live generation's store, faiss for a new index
        self._lock_handle: object | None = None
        self.previous: Manifest | None = None  # manifest of the generation this one starts from
        self.discarded = False

    def __enter__(self) -> IndexWriter:
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock()
        live = live_generation(self.root)
        self.live = Manifest.read(live) if live is not None else None
        previous = None if self.rebuild else live
        number = self._next_generation_number()
        self.directory = self.root / f"gen-{number:06d}"
        self.staging = self.root / f".staging-gen-{number:06d}"
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir()
        uri = self.requested_store or (self.live.store if self.live is not None else "faiss")
        self.vector_store = open_store(uri)
        self.manifest = replace(self.manifest, generation=number, store=self.vector_store.uri)
        if previous is not None:
            old = self.previous = Manifest.read(previous)
            check_compatible(old, self.root, self.manifest.embedder)
            check_store(old, self.root, self.vector_store.uri)
            self._copy_store(previous / STORE, self.staging / STORE)
        self.store = ChunkStore(self.staging / STORE)
        self.vectors = self._vectors(previous)
        return self

    def _vectors(self, base: Path | None) -> VectorIndex:
        vectors = self.vector_store.writer(self.root, base, self.live, self.manifest, self.store.filter_fields)
        self.manifest = replace(self.manifest, collection=self.vector_store.collection(vectors))
        return vectors

    def fresh_vectors(self) -> VectorIndex:
        """Empty vectors for this generation (a re-embedding writes them anew rather than over the live ones)."""
        self.vectors = self._vectors(None)
        return self.vectors

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if kind is None and not self.discarded:
                self._commit()
        finally:
            if getattr(self, "store", None) is not None:
                self.store.close()
            shutil.rmtree(self.staging, ignore_errors=True)
            self._unlock()

    def discard(self) -> None:
        """Leave without committing: nothing changed, so the live generation stays current."""
        self.discarded = True

    def _commit(self) -> None:
        self.store.commit()
        counts = self.store.counts()
        BM25Index.build(self.store.iter_texts()).save(self.staging / BM25_DIR)
        self.vectors.save(self.staging / VECTORS)
        if len(self.vectors) != counts["chunks"]:
            raise RagError(f"internal error: {len(self.vectors)} vectors for {counts['chunks']} chunks")
        replace(self.manifest, **counts).write(self.staging)
        _fsync_tree(self.staging)
        os.replace(self.staging, self.directory)
        _write_durably(self.root / CURRENT, self.directory.name)
        self._remove_old_generations()
        try:
            self.vectors.published()
        except Exception as error:  # the swap is done; what is left is reclaimed after the next ingest
            log.warning("the new generation is live, but cleaning up its vector store failed: %s", error)

    def _next_generation_number(self) -> int:
        numbers = [int(p.name.rsplit("-", 1)[1]) for p in self.root.glob("*gen-*") if p.name[-6:].isdigit()]
        return max(numbers, default=0) + 1

    def _remove_old_generations(self) -> None:
        """Keep the new generation and the one before it (readers may still hold it open)."""
        generations = sorted(p for p in self.root.glob("gen-*") if p.is_dir())
        for old in generations[:-2]:
            shutil.rmtree(old, ignore_errors=True)
        for stray in self.root.iterdir():
            if stray.name.startswith(".staging-") or (stray.is_file() and stray.suffix == ".tmp"):
                shutil.rmtree(stray, ignore_errors=True) if stray.is_dir() else stray.unlink()

    @staticmethod
    def _copy_store(source: Path, target: Path) -> None:
        """A consistent copy of a SQLite file through the backup API."""
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        src.close()
        dst.close()

    def _lock(self) -> None:
        handle = (self.root / ".lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RagError(f"another ingest is writing {self.root}; try again when it has finished") from None
        self._lock_handle = handle

    def _unlock(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None
