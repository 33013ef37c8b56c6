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

import errno
import fcntl
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import TextIO

import numpy as np

from rag.errors import IndexDamagedError, IndexLockedError, IndexMismatchError, IndexWriteError, RagError
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


def try_lock(path: Path) -> TextIO | None:
    """An exclusive lock on `path` (created if absent), held until the returned handle is closed; None when
    another process (or another handle in this one) holds it. The kernel drops it when its holder dies."""
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def error_reason(error: BaseException) -> str:
    """A short reason for an I/O or library error: the OS's words for its errno, else its first line."""
    if isinstance(error, OSError) and error.errno is not None:
        return os.strerror(error.errno)
    lines = str(error).strip().splitlines()
    return (lines[-1] if lines else type(error).__name__)[:200]


@contextmanager
def reading(root: Path) -> Iterator[None]:
    """What reading a damaged generation raises (a missing or truncated file, a corrupt database) becomes one
    IndexDamagedError saying how to rebuild."""
    try:
        yield
    except (OSError, sqlite3.DatabaseError, RuntimeError, ValueError, KeyError) as error:
        raise IndexDamagedError(root, error_reason(error)) from error


@contextmanager
def writing(root: Path) -> Iterator[None]:
    """What writing a generation raises for lack of room or rights becomes one IndexWriteError."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as error:
        raise IndexWriteError(root, error_reason(error)) from error


def check_directory(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise RagError(f"{root} is a file, not an index directory: pass --index a directory (`rag ingest` makes one)")


def check_generation(root: Path, generation: Path) -> None:
    """Every file of a generation is there (IndexDamagedError naming the first one missing)."""
    if not generation.is_dir():
        raise IndexDamagedError(root, f"{CURRENT} names {generation.name}, which does not exist")
    for name in (MANIFEST, STORE, f"{BM25_DIR}/chunk_ids.npy"):
        if not (generation / name).exists():
            raise IndexDamagedError(root, f"{generation.name}/{name} is missing")
    with reading(root):
        in_file = Manifest.read(generation).store == "faiss"  # a Milvus store's vectors are in its collection
    if in_file and not (generation / VECTORS).exists():
        raise IndexDamagedError(root, f"{generation.name}/{VECTORS} is missing")


def live_generation(root: Path) -> Path | None:
    """The directory of the live generation, or None for a new (empty or absent) index directory."""
    check_directory(root)
    pointer = root / CURRENT
    if pointer.exists():
        with reading(root):
            generation = root / pointer.read_text().strip()
        check_generation(root, generation)
        return generation
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
        with reading(root):
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
        with reading(root):
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
    generation and leaves the live one as it was. The index's lock is taken first, before `manifest()` is
    called (which may load the embedder), so a concurrent ingest is refused at once. Holding it, the writer
    removes what killed ingests left (staging directories, temporary files): no live ingest can hold them.
    """

    def __init__(
        self, root: Path, manifest: Callable[[], Manifest], rebuild: bool = False, store: str | None = None
    ) -> None:
        self.root = root
        self.rebuild = rebuild
        self.make_manifest = manifest
        self.requested_store = store  # None: the live generation's store, faiss for a new index
        self._lock_handle: TextIO | None = None
        self.live: Manifest | None = None  # manifest of the live generation, also on a rebuild
        self.previous: Manifest | None = None  # manifest of the generation this one starts from
        self.discarded = False

    def __enter__(self) -> IndexWriter:
        check_directory(self.root)
        with writing(self.root):
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock()
        try:
            self._open()
        except BaseException:
            self._close()
            raise
        return self

    def _open(self) -> None:
        with writing(self.root):
            self._remove_strays()
        live = self._live()
        previous = None if self.rebuild else live
        if previous is not None:
            self.previous = self.live
            with reading(self.root):
                ChunkStore(previous / STORE, read_only=True).close()  # a truncated store is refused here
        uri = self.requested_store or (self.live.store if self.live is not None else "faiss")
        self.vector_store = open_store(uri)
        if self.previous is not None:
            check_store(self.previous, self.root, self.vector_store.uri)
        manifest = self.make_manifest()
        if self.previous is not None:
            check_compatible(self.previous, self.root, manifest.embedder)
        number = self._next_generation_number()
        self.directory = self.root / f"gen-{number:06d}"
        self.staging = self.root / f".staging-gen-{number:06d}"
        self.manifest = replace(manifest, generation=number, store=self.vector_store.uri)
        with writing(self.root):
            self.staging.mkdir()
            if previous is not None:
                with reading(self.root):
                    self._copy_store(previous / STORE, self.staging / STORE)
            self.store = ChunkStore(self.staging / STORE)
            with reading(self.root):
                self.vectors = self._vectors(previous)

    def _live(self) -> Path | None:
        """The live generation (its manifest in `self.live`); a rebuild replaces a damaged or foreign one, so
        for a rebuild one that cannot be read counts as none."""
        try:
            live = live_generation(self.root)
            if live is not None:
                with reading(self.root):
                    self.live = Manifest.read(live)
        except RagError:
            if self.rebuild:
                return None
            raise
        return live

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
            with writing(self.root):
                if kind is None and not self.discarded:
                    self._commit()
                elif isinstance(error, OSError | sqlite3.OperationalError):
                    raise error
        finally:
            self._close()

    def _close(self) -> None:
        if getattr(self, "store", None) is not None:
            self.store.close()
        if getattr(self, "staging", None) is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
        self._unlock()

    def discard(self) -> None:
        """Leave without committing: nothing changed, so the live generation stays current."""
        self.discarded = True

    def _commit(self) -> None:
        self.store.commit()
        counts = self.store.counts()
        BM25Index.build(self.store.iter_texts()).save(self.staging / BM25_DIR)
        try:
            self.vectors.save(self.staging / VECTORS)
        except RuntimeError as error:  # FAISS reports a failed write (a full disk) as a RuntimeError
            raise OSError(errno.EIO, error_reason(error)) from error
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
        self._remove_strays()

    def _remove_strays(self) -> None:
        """Staging directories and temporary files of ingests that died: only one ingest holds the lock, and
        this one has made none of its own yet (or has just renamed it into place)."""
        for stray in self.root.iterdir():
            if stray.name.startswith(".staging-"):
                log.info("removing %s, left by an ingest that did not finish", stray)
                shutil.rmtree(stray, ignore_errors=True)
            elif stray.is_file() and stray.suffix == ".tmp":
                stray.unlink()

    @staticmethod
    def _copy_store(source: Path, target: Path) -> None:
        """A consistent copy of a SQLite file through the backup API."""
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        src.close()
        dst.close()

    def _lock(self) -> None:
        handle = try_lock(self.root / ".lock")
        if handle is None:
            raise IndexLockedError(f"another ingest is writing {self.root}; try again when it has finished")
        self._lock_handle = handle

    def _unlock(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None
