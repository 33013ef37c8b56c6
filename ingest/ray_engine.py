"""The Ray ingest engine (setting `engine` = ray): loading, chunking and embedding as Ray Data stages.

    rag ingest DOCS --engine ray                          a local Ray instance on this machine's CPUs (at most 2)
    rag ingest DOCS --engine ray --ray-address auto       the Ray cluster this machine belongs to
    rag ingest DOCS --engine ray --ray-address ray://HOST:10001   a remote cluster through Ray Client

The driver (this process) walks the paths and holds the index writer; the cluster loads the files (tasks),
chunks them (an actor pool, one tokenizer each) and embeds the chunks (an actor pool sized to the cluster's
CPUs, or `ray_workers`), and the driver writes what comes back to the vector store in bulk, a batch of
documents at a time. Everything else is the local engine's: the same loaders, chunker and embedder settings,
so the same chunk ids and (within int8 batching noise) the same vectors; the same content-hash skipping,
pruning and atomic generations, so a failed or killed Ray job leaves the live index as it was. On a cluster of
more than one machine every node needs grounded-rag with the `scale` extra installed and the files readable at
the same paths (a shared file system): the stages receive paths, not bytes.
"""

from __future__ import annotations

import copy
import logging
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ingest.loaders import Budget, SkipFile
from ingest.pipeline import Ingestor, Pending, SourceFile, Tally, chunk_within, load_source
from rag.config import Settings
from rag.errors import RagError
from rag.index.embedding import Embedder

log = logging.getLogger(__name__)

LOCAL_CPUS = 2  # a local Ray instance takes at most this many CPUs
LOCAL_START_ATTEMPTS = 3
BLOCKS_PER_WORKER = 4  # the file list is split into this many blocks per worker, so every worker gets some
DOCUMENTS_PER_BATCH = 32  # documents per chunking and embedding call, and per bulk write on the driver
EmbedderFactory = Callable[[], Any]
BYTES = {"payload": object, "vectors": object}  # columns of bytes, kept whole (a bytes dtype drops trailing NULs)


def worker_embedder(embedder: Any, threads: int) -> EmbedderFactory:
    """How a Ray actor makes its own copy of `embedder`: a real one is rebuilt from its settings with
    `threads` threads (its model loads in the actor), any other (a test's fake) is copied."""
    if isinstance(embedder, Embedder):
        return partial(Embedder, embedder.name, embedder.batch_size, threads, embedder.backend)
    return partial(copy.deepcopy, embedder)


def stage_row(kind: str, doc_id: str, source: str = "", reason: str = "", payload: bytes = b"") -> dict[str, Any]:
    """A row between the stages: a document (added, updated, unchanged) or a skip (`source` and `reason`)."""
    return {"kind": kind, "doc_id": doc_id, "source": source, "reason": reason, "payload": payload, "vectors": b""}


def load_stage(row: dict[str, Any], known: dict[str, str], settings: Settings) -> list[dict[str, Any]]:
    """One file -> a row per document (added, updated or unchanged against the `known` hashes), or one skip.
    Each document is loaded within the local engine's budget (max_document_chars, max_file_seconds)."""
    source = SourceFile(Path(row["path"]), Path(row["root"]), row["doc_id"])
    budget = Budget(settings.max_document_chars, settings.max_file_seconds)
    rows: list[dict[str, Any]] = []
    try:
        for document in load_source(source, settings.max_file_mb, budget):
            previous = known.get(document.doc_id)
            kind = "added" if previous is None else "unchanged" if previous == document.hash else "updated"
            payload = pickle.dumps((document, row["root"], [])) if kind != "unchanged" else b""
            rows.append(stage_row(kind, document.doc_id, payload=payload))
    except SkipFile as reason:  # as in the local engine, the documents loaded before it (.jsonl records) stay
        rows.append(stage_row("skipped", source.doc_id, str(source.path), str(reason)))
    return rows


class ChunkStage:
    """Chunks the documents of a batch with the local engine's chunker (the embedder's tokenizer), each within
    a budget of its own (max_file_seconds, max_document_chunks): a document over it becomes a skip."""

    def __init__(self, settings: Settings, make_embedder: EmbedderFactory) -> None:
        self.chunker = Ingestor(settings, embedder=make_embedder()).chunker()
        self.budget = Budget(settings.max_document_chars, settings.max_file_seconds)
        self.limit = settings.max_document_chunks

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)]
        for row in rows:
            if row["kind"] in ("added", "updated"):
                document, root, _ = pickle.loads(row["payload"])
                self.budget.start()
                try:
                    row["payload"] = pickle.dumps(
                        (document, root, chunk_within(self.chunker, document, self.budget, self.limit))
                    )
                except SkipFile as reason:
                    row.update(stage_row("skipped", document.doc_id, document.source, str(reason)))
        return {column: np.asarray([row[column] for row in rows], dtype=BYTES.get(column)) for column in batch}


class EmbedStage:
    """Embeds every chunk of a batch's documents in one call; the vectors travel as float32 bytes."""

    def __init__(self, make_embedder: EmbedderFactory) -> None:
        self.embedder = make_embedder()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        documents = [
            pickle.loads(p) if k in ("added", "updated") else None
            for k, p in zip(batch["kind"], batch["payload"], strict=True)
        ]
        texts = [c.text for d in documents if d is not None for c in d[2]]
        vectors = self.embedder.encode(texts) if texts else np.zeros((0, 0), dtype=np.float32)
        out, start = [], 0
        for document in documents:
            count = len(document[2]) if document is not None else 0
            out.append(np.ascontiguousarray(vectors[start : start + count], dtype=np.float32).tobytes())
            start += count
        return {**batch, "vectors": np.asarray(out, dtype=object)}


class RayIngestor(Ingestor):
    """The Ray engine: the local engine's run, with loading, chunking and embedding on a Ray cluster."""

    def _embedded(
        self,
        files: Sequence[SourceFile],
        known: dict[str, tuple[str, str]],
        tally: Tally,
        seen: set[str],
        progress: bool,
        budget: Budget,
    ) -> Iterator[tuple[list[Pending], np.ndarray]]:
        seen.update(source.doc_id for source in files)
        for source in files:
            if source.problem is not None:  # a link that cannot be followed, a name that is not UTF-8
                self._skip(tally, source.path, source.problem)
        loadable = [source for source in files if source.problem is None]
        if not loadable:
            return
        dataset = self._dataset(loadable, {doc_id: digest for doc_id, (_, digest) in known.items()}, progress)
        try:
            for batch in dataset.iter_batches(batch_size=DOCUMENTS_PER_BATCH, batch_format="numpy"):
                budget.check_cancel()
                pending, vectors = self._collect(batch, tally, seen)
                if pending:
                    yield pending, vectors
        except RagError:
            raise
        except Exception as error:  # a task or actor failed; Ray wraps the cause in its own exception types
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise RagError(f"the Ray ingest failed and the live index is unchanged: {first[:300]}") from error

    def _collect(self, batch: dict[str, np.ndarray], tally: Tally, seen: set[str]) -> tuple[list[Pending], np.ndarray]:
        """The changed documents of a batch and their vectors; the rest is tallied."""
        pending: list[Pending] = []
        vectors: list[np.ndarray] = []
        columns = (batch["kind"], batch["doc_id"], batch["source"], batch["reason"], batch["payload"], batch["vectors"])
        for kind, doc_id, source, reason, payload, raw in zip(*columns, strict=True):
            seen.add(str(doc_id))
            if kind == "skipped":  # its stored version (if any) is kept
                self._skip(tally, str(source), str(reason))
                continue
            if kind == "unchanged":
                tally.unchanged += 1
                continue
            tally.added += kind == "added"
            tally.updated += kind == "updated"
            pending.append(pickle.loads(payload))
            vectors.append(np.frombuffer(raw, dtype=np.float32).reshape(-1, self.embedder.dimension))
        return pending, np.concatenate(vectors) if vectors else np.zeros((0, self.embedder.dimension), np.float32)

    def _dataset(self, files: list[SourceFile], known: dict[str, str], progress: bool) -> Any:
        import ray.data

        workers = connect(self.settings.ray_address, self.settings.ray_workers)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        context.print_on_execution_start = False
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        make_embedder = worker_embedder(self.embedder, max(1, cpus // workers))
        rows = [{"path": str(f.path), "root": str(f.root), "doc_id": f.doc_id} for f in files]
        return (
            ray.data.from_items(rows, override_num_blocks=min(len(rows), BLOCKS_PER_WORKER * workers))
            .flat_map(
                load_stage,
                fn_args=(known, self.settings),
                compute=ray.data.TaskPoolStrategy(size=workers),
                num_cpus=0,
            )
            .map_batches(
                ChunkStage,
                fn_constructor_args=(self.settings, make_embedder),
                batch_size=DOCUMENTS_PER_BATCH,
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers),
                num_cpus=0,
            )
            .map_batches(
                EmbedStage,
                fn_constructor_args=(make_embedder,),
                batch_size=DOCUMENTS_PER_BATCH,
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=1,
            )
        )


def start_local(ray: Any, options: dict[str, Any]) -> None:
    """A local Ray instance of at most LOCAL_CPUS CPUs. Ray gives its raylet a fixed 30 s to register; on a loaded
    machine that can run out, so a start that times out is shut down and tried LOCAL_START_ATTEMPTS times."""
    for attempt in range(1, LOCAL_START_ATTEMPTS + 1):
        try:
            ray.init(num_cpus=min(LOCAL_CPUS, os.cpu_count() or 1), **options)
            return
        except Exception as error:
            if "timed out during startup" not in str(error) or attempt == LOCAL_START_ATTEMPTS:
                raise
            log.warning("Ray did not start in time (attempt %d of %d); trying again", attempt, LOCAL_START_ATTEMPTS)
            ray.shutdown()


def connect(address: str | None, workers: int | None) -> int:
    """Join the Ray cluster at `address` (or start a local instance, at most LOCAL_CPUS CPUs) unless this
    process already has; the number of embedder actors: `workers`, or one per CPU of the cluster."""
    try:
        import ray
    except ImportError:
        raise RagError("engine=ray needs Ray Data: pip install 'grounded-rag[scale]' (or use --engine local)") from None
    if not ray.is_initialized():
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING, "include_dashboard": False}
        try:
            if address:
                ray.init(address=address, **options)
            else:
                start_local(ray, options)
        except Exception as error:  # ConnectionError, and Ray's own for a bad or unreachable address
            where = f"reach the Ray cluster at {address!r} (setting ray_address)" if address else "start Ray here"
            raise RagError(f"cannot {where}: {error}") from None
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    return min(workers, cpus) if workers else cpus
