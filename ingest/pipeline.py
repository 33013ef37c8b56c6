"""Ingestion: walk paths, load, skip unchanged documents by content hash, chunk, embed and write a new index
generation; report what was added, updated, unchanged, removed and skipped, and warn when nothing was kept.

Every document is loaded and chunked within a budget (characters, chunks, seconds: settings
max_document_chars, max_document_chunks, max_file_seconds) and skipped with the setting named when it needs
more. A set `cancel` event stops the run at its next check; the live index then stays as it was.
"""

from __future__ import annotations

import copy
import errno
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import Any, TypeVar

import numpy as np

from ingest.chunking import Chunker
from ingest.loaders import Budget, SkipFile, load, supported_suffixes
from rag.config import Settings
from rag.errors import InputError
from rag.index.embedding import Embedder
from rag.index.generations import IndexWriter, Manifest
from rag.records import Chunk, Document, IngestReport
from rag.text import utf8_problem

log = logging.getLogger(__name__)

EMBED_BATCH_CHUNKS = 256
PREFETCH_DOCUMENTS = 512  # chunked documents the loading thread may run ahead of the embedder

Pending = tuple[Document, str, list[Chunk]]
T = TypeVar("T")


def prefetched(items: Iterator[T], depth: int) -> Iterator[T]:
    """The items of `items`, produced in a background thread up to `depth` ahead of the consumer.

    Loading and chunking are Python, embedding is native code that releases the GIL, so the two overlap.
    The producer's exceptions are raised here; closing this generator stops the producer.
    """
    queue: Queue[tuple[bool, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((False, item)):
                    return
            put((True, None))
        except BaseException as error:  # handed to the consumer, which raises it
            put((True, error))

    thread = threading.Thread(target=produce, name="ingest-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            done, payload = queue.get()
            if done:
                if payload is not None:
                    raise payload
                return
            yield payload
    finally:
        stop.set()
        thread.join()


@dataclass(frozen=True)
class SourceFile:
    """A file to load, the root it was found under, the doc id its path gives, and why it cannot be loaded
    (None when it can)."""

    path: Path
    root: Path
    doc_id: str
    problem: str | None = None


def symlink_problem(path: Path) -> str | None:
    """Why a symbolic link is not followed: a loop, a missing target, or a directory (which could loop)."""
    try:
        target = path.resolve(strict=True)
    except RuntimeError:  # Python 3.11 raises this for a loop; later versions raise OSError(ELOOP)
        return "symlink loop"
    except FileNotFoundError:
        return "broken symlink (its target does not exist)"
    except OSError as error:
        kind = "symlink loop" if error.errno == errno.ELOOP else "unreadable symlink"
        return f"{kind} ({error.strerror})"
    return "symlink to a directory, not followed (it could loop)" if target.is_dir() else None


def walk(paths: Sequence[Path]) -> Iterator[SourceFile]:
    """Every file under the given paths, recursively, in a stable order; hidden entries are ignored. Links that
    cannot be followed and names that are not valid UTF-8 come with the reason."""
    for given in paths:
        if not given.exists():
            raise InputError(f"no such file or directory: {given}")
        root = given.resolve()
        if root.is_file():
            yield SourceFile(root, root, root.name, utf8_problem(root.name) and "file name is not valid UTF-8")
            continue
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if any(part.startswith(".") for part in relative.parts):
                continue
            problem = symlink_problem(path) if path.is_symlink() else None
            if problem is None and not path.is_file():
                continue
            if problem is None and utf8_problem(relative.as_posix()):
                problem = "file name is not valid UTF-8: rename it"
            yield SourceFile(path, root, relative.as_posix(), problem)


def load_source(source: SourceFile, max_file_mb: float, budget: Budget) -> Iterator[Document]:
    """The documents of one file, each loaded within `budget` (started anew for each); SkipFile with the reason
    when the file cannot be followed, is too large or cannot be loaded."""
    if source.problem is not None:
        raise SkipFile(source.problem)
    try:
        if source.path.stat().st_size > max_file_mb * 1024 * 1024:
            raise SkipFile(f"larger than max_file_mb={max_file_mb}")
        budget.start()
        for document in load(source.path, source.doc_id, budget):
            yield document
            budget.start()
    except SkipFile:
        raise
    except (OSError, UnicodeError, RecursionError, ValueError) as error:
        raise SkipFile(f"{type(error).__name__}: {error}") from error


def chunk_within(chunker: Chunker, document: Document, budget: Budget, limit: int) -> list[Chunk]:
    """A document's chunks; SkipFile when chunking runs past `budget` or makes more than `limit` chunks (setting
    max_document_chunks)."""
    chunks = chunker.chunk(document, check=budget.check)
    if len(chunks) > limit:
        raise SkipFile(f"{len(chunks)} chunks, more than max_document_chunks={limit}")
    return chunks


@dataclass
class Tally:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_added: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


class Ingestor:
    """The local ingest engine (setting `engine` = local): builds or updates one index directory from
    documents on disk, in this process."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, *, prefetch: bool = False) -> None:
        self.settings = settings
        # Load and chunk in a thread while the model embeds. Off by default: on 2 busy cores it measured no gain
        # (bench/ingest.py reports both), since the model already keeps every core busy.
        self.prefetch = prefetch
        self.embedder = embedder or Embedder.from_settings(settings)

    def chunker(self) -> Chunker:
        """A chunker measuring in the embedder's tokenizer; a private copy of it when chunking runs in the
        prefetch thread, since a Hugging Face tokenizer's padding and truncation state is not thread-safe."""
        size = min(self.settings.chunk_size, self.embedder.max_tokens)
        tokenizer = copy.deepcopy(self.embedder.tokenizer) if self.prefetch else self.embedder.tokenizer
        return Chunker(tokenizer, size, min(self.settings.chunk_overlap, size // 2))

    def manifest(self) -> Manifest:
        return Manifest(
            embedder=self.settings.embedder,
            dimension=self.embedder.dimension,
            chunk_size=self.settings.chunk_size,
            chunk_overlap=self.settings.chunk_overlap,
            embedder_backend=getattr(self.embedder, "backend", self.settings.embedder_backend),
        )

    def run(
        self,
        paths: Sequence[Path | str],
        index: Path | str,
        prune: bool = False,
        rebuild: bool = False,
        progress: bool = False,
        cancel: threading.Event | None = None,
    ) -> IngestReport:
        started = time.perf_counter()
        paths, index = [Path(p) for p in paths], Path(index)
        files = list(walk(paths))
        tally = Tally()
        budget = Budget(self.settings.max_document_chars, self.settings.max_file_seconds, cancel)
        # the lock is taken before the manifest is built, which loads the embedder
        with IndexWriter(index, self.manifest, rebuild=rebuild, store=self.settings.store) as writer:
            reembedded = self._reembed_if_backend_changed(writer)
            known = writer.store.documents()
            seen: set[str] = set()
            for pending, vectors in self._embedded(files, known, tally, seen, progress, budget):
                self._write(writer, pending, vectors, tally)
            if prune:
                self._prune(writer, known, seen, {str(p.resolve()) for p in paths}, tally)
            writer.store.commit()
            counts = writer.store.counts()
            budget.check_cancel()
            changed = reembedded or writer.store.migrated or tally.added or tally.updated or tally.removed
            if writer.previous is not None and not changed:
                writer.discard()  # nothing changed: keep the live generation rather than write an identical one
        warnings = nothing_kept(paths, len(files), tally)
        for warning in warnings:
            log.warning(warning)
        return IngestReport(
            added=tally.added,
            updated=tally.updated,
            unchanged=tally.unchanged,
            removed=tally.removed,
            chunks_added=tally.chunks_added,
            skipped=tuple(tally.skipped),
            documents=counts["documents"],
            chunks=counts["chunks"],
            seconds=time.perf_counter() - started,
            files=len(files),
            warnings=warnings,
        )

    def _embedded(
        self,
        files: Sequence[SourceFile],
        known: dict[str, tuple[str, str]],
        tally: Tally,
        seen: set[str],
        progress: bool,
        budget: Budget,
    ) -> Iterator[tuple[list[Pending], np.ndarray]]:
        """New and changed documents with their chunks, in batches, and the vectors of those chunks; what is
        loaded is added to `seen`, what is skipped or unchanged to `tally`. Here, in this process."""
        changed = self._changed(self._documents(files, tally, seen, progress, budget), known, tally, budget)
        with closing(prefetched(changed, PREFETCH_DOCUMENTS) if self.prefetch else changed) as items:
            pending: list[Pending] = []
            for item in items:
                pending.append(item)
                if sum(len(chunks) for _, _, chunks in pending) >= EMBED_BATCH_CHUNKS:
                    budget.check_cancel()
                    yield pending, self._encode(pending)
                    pending = []
            budget.check_cancel()
            if pending:
                yield pending, self._encode(pending)

    def _encode(self, pending: list[Pending]) -> np.ndarray:
        return self.embedder.encode([c.text for _, _, chunks in pending for c in chunks], progress=False)

    def _changed(
        self,
        documents: Iterator[tuple[Document, str]],
        known: dict[str, tuple[str, str]],
        tally: Tally,
        budget: Budget,
    ) -> Iterator[Pending]:
        """New and changed documents, chunked within their budget; unchanged ones (same content hash) are only
        counted. A document over its budget is skipped, and its stored version (if any) kept."""
        chunker = self.chunker()
        limit = self.settings.max_document_chunks
        for document, root in documents:
            previous = known.get(document.doc_id)
            if previous is not None and previous[1] == document.hash:
                tally.unchanged += 1
                continue
            try:
                chunks = chunk_within(chunker, document, budget, limit)
            except SkipFile as reason:
                self._skip(tally, document.source, str(reason))
                continue
            if previous is None:
                tally.added += 1
            else:
                tally.updated += 1
            yield document, root, chunks

    def _documents(
        self, files: Sequence[SourceFile], tally: Tally, seen: set[str], progress: bool, budget: Budget
    ) -> Iterator[tuple[Document, str]]:
        """Loaded documents with their root; unloadable files are tallied as skipped and kept in `seen`
        so that pruning never deletes the stored version of a file that merely failed to load."""
        from tqdm import tqdm

        for source in tqdm(files, desc="ingest", unit="file", disable=not progress):
            seen.add(source.doc_id)
            budget.check_cancel()
            try:
                for document in load_source(source, self.settings.max_file_mb, budget):
                    seen.add(document.doc_id)
                    yield document, str(source.root)
            except SkipFile as reason:
                self._skip(tally, source.path, str(reason))

    @staticmethod
    def _skip(tally: Tally, path: Path | str, reason: str) -> None:
        log.warning("skipped %s: %s", path, reason)
        tally.skipped.append((str(path), reason))

    def _write(self, writer: IndexWriter, pending: list[Pending], vectors: np.ndarray, tally: Tally) -> None:
        """Replace the documents of `pending` and their chunks in the new generation; `vectors` are the chunks'."""
        chunks = [c for _, _, doc_chunks in pending for c in doc_chunks]
        for document, root, doc_chunks in pending:
            writer.vectors.remove(np.asarray(writer.store.delete(document.doc_id), dtype=np.int64))
            writer.store.put(document, root, doc_chunks)
        writer.vectors.add(np.asarray([c.chunk_id for c in chunks], dtype=np.int64), vectors)
        tally.chunks_added += len(chunks)

    def _reembed_if_backend_changed(self, writer: IndexWriter) -> bool:
        """Vectors from another embedding backend differ slightly: re-embed every stored chunk with this one."""
        if writer.previous is None or writer.previous.embedder_backend == writer.manifest.embedder_backend:
            return False
        log.warning(
            "index was embedded with %s, re-embedding it with %s",
            writer.previous.embedder_backend,
            writer.manifest.embedder_backend,
        )
        ids = writer.vectors.ids().tolist()
        writer.fresh_vectors()
        for start in range(0, len(ids), EMBED_BATCH_CHUNKS):
            chunks = writer.store.chunks(ids[start : start + EMBED_BATCH_CHUNKS])
            vectors = self.embedder.encode([c.text for c in chunks])
            writer.vectors.add(np.asarray([c.chunk_id for c in chunks], dtype=np.int64), vectors)
        return True

    @staticmethod
    def _prune(
        writer: IndexWriter, known: dict[str, tuple[str, str]], seen: set[str], roots: set[str], tally: Tally
    ) -> None:
        """Remove documents that came from one of this run's roots and are no longer there."""
        for doc_id, (root, _) in known.items():
            if root in roots and doc_id not in seen:
                writer.vectors.remove(np.asarray(writer.store.delete(doc_id), dtype=np.int64))
                tally.removed += 1


def nothing_kept(paths: Sequence[Path], files: int, tally: Tally) -> tuple[str, ...]:
    """A warning when a run kept no document: how many files it saw and why none was kept."""
    if tally.added or tally.updated or tally.unchanged:
        return ()
    where = ", ".join(str(p) for p in paths)
    if not files:
        types = ", ".join(supported_suffixes())
        return (f"no files found under {where} (hidden files are ignored; supported types: {types})",)
    reasons = Counter(reason for _, reason in tally.skipped).most_common(3)
    why = "; ".join(f"{reason} ({count})" for reason, count in reasons)
    return (f"no document kept from the {files} files seen under {where}: {len(tally.skipped)} skipped ({why})",)
