"""The Milvus vector store: vectors and the filter fields in a Milvus collection (Milvus Lite or a server).

One collection holds the vectors of an index's live generation and the one being written. Each row is a
chunk id with its vector, the filter fields (path, file_type, page, ingested_at) and the generations it lives
in, `born <= g < died`: a reader of generation g searches with that condition, so a writer can add (born = its
generation) and remove (died = its generation) while readers of the live one see nothing change. After the
atomic swap the rows no kept generation sees are deleted. A writer starts by undoing what a failed or killed
writer left (rows born after the live generation deleted, rows it marked dead revived), so a crash at any
moment leaves the live generation as it was. A rebuild, or a change of embedder backend, writes a new
collection; collections of the index that no kept generation names are dropped after the swap.

Milvus Lite runs inside the process that opens the file and allows one process at a time; a Milvus server
takes readers and writers from any number of processes and machines. Marking rows dead uses partial upserts,
which Milvus servers have from 2.6 on; the client connects without a token.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError
from rag.index.filters import Where
from rag.index.stores import Allowed, Described, Fields

log = logging.getLogger(__name__)

ALIVE = 2**62  # `died` of a row no generation has removed
INDEX_TYPE = "IVF_SQ8"
NLIST = 1024
NPROBE = 64
MAX_LIMIT = 16_384  # Milvus's largest top-k
BATCH_ROWS = 5_000  # rows per insert, upsert or get call (well under gRPC's message limit at 1,024 dimensions)
MAX_PATH = 4_096

_clients: dict[str, Any] = {}


def client_for(uri: str) -> Any:
    """One MilvusClient per URI in this process (Milvus Lite allows one process per database file)."""
    if uri not in _clients:
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise RagError(
                "the Milvus store needs pymilvus: pip install 'grounded-rag[scale]' (or set store=faiss)"
            ) from None
        # pymilvus logs every failed call with its traceback, and Milvus Lite's in-process gRPC server every
        # query_iterator's call it does not implement; the errors reach the user as one-line RagErrors instead
        for noisy in ("pymilvus", "milvus_lite", "grpc._server"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)
        target = uri.removeprefix("milvus-lite://") if uri.startswith("milvus-lite://") else uri
        if uri.startswith("milvus-lite://"):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        try:
            _clients[uri] = MilvusClient(target) if uri.startswith("milvus-lite://") else MilvusClient(uri=target)
        except Exception as error:  # pymilvus raises its own exception types, and Milvus Lite its lock error
            raise RagError(
                f"cannot open Milvus store {uri} ({type(error).__name__}: {str(error)[:200]}); Milvus Lite serves "
                "one process at a time: stop the other one, or use a Milvus server (store=http://host:19530)"
            ) from None
    return _clients[uri]


def close_clients() -> None:
    """Close this process's Milvus clients and stop its Milvus Lite servers, which releases their files."""
    while _clients:
        uri, client = _clients.popitem()
        client.close()
        if uri.startswith("milvus-lite://"):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(uri.removeprefix("milvus-lite://"))


def lite_uri(path: Path | str) -> str:
    """The store URI of a Milvus Lite file, absolute so that it means the same from any directory."""
    return f"milvus-lite://{Path(path).resolve()}"


def collection_prefix(root: Path) -> str:
    """Collections of the index directory `root` are named <prefix>_<generation>."""
    return "rag_" + hashlib.blake2b(str(root.resolve()).encode(), digest_size=6).hexdigest()


def visible_in(generation: int) -> str:
    return f"born <= {generation} and died > {generation}"


class MilvusStore:
    """Index generations' vectors in Milvus, at a `milvus-lite://` or `http(s)://` URI."""

    def __init__(self, uri: str) -> None:
        if uri.startswith("milvus-lite://") and not Path(uri.removeprefix("milvus-lite://")).is_absolute():
            uri = lite_uri(uri.removeprefix("milvus-lite://"))
        self.uri = uri

    @property
    def client(self) -> Any:
        return client_for(self.uri)

    def reader(self, generation: Path, manifest: Described, allowed: Allowed) -> MilvusIndex:
        if not self.client.has_collection(manifest.collection):
            raise RagError(
                f"Milvus collection {manifest.collection} of index {generation.parent} is missing at {self.uri}: "
                f"re-ingest with `rag ingest DOCS --index {generation.parent} --rebuild`"
            )
        self.client.load_collection(manifest.collection)
        return MilvusIndex(self.client, manifest.collection, manifest.dimension, manifest.generation)

    def writer(
        self, root: Path, base: Path | None, live: Described | None, manifest: Described, fields: Fields
    ) -> MilvusIndex:
        same = live is not None and live.store == self.uri and bool(live.collection)
        live_generation = live.generation if live is not None else 0
        if base is not None and same:
            name = live.collection  # type: ignore[union-attr]
            self.client.load_collection(name)
        else:
            name = f"{collection_prefix(root)}_{manifest.generation:06d}"
            self._create(name, manifest.dimension)
        vectors = MilvusIndex(self.client, name, manifest.dimension, manifest.generation, fields=fields)
        vectors.keep = {name, live.collection} if same else {name}  # type: ignore[union-attr]
        vectors.live_generation = live_generation
        if base is not None and same:
            vectors.recover()
        return vectors

    def collection(self, vectors: Any) -> str:
        return vectors.collection

    def _create(self, name: str, dimension: int) -> None:
        from pymilvus import DataType

        client = self.client
        if client.has_collection(name):
            client.drop_collection(name)  # left by a failed rebuild
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("chunk_id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        schema.add_field("born", DataType.INT64)
        schema.add_field("died", DataType.INT64)
        schema.add_field("path", DataType.VARCHAR, max_length=MAX_PATH)
        schema.add_field("file_type", DataType.VARCHAR, max_length=64)
        schema.add_field("page", DataType.INT64)
        schema.add_field("ingested_at", DataType.DOUBLE)
        index = client.prepare_index_params()
        index.add_index("vector", index_type=INDEX_TYPE, metric_type="IP", params={"nlist": NLIST})
        client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")


class MilvusIndex:
    """The vectors of one generation in a Milvus collection (see the module docstring for the row lifetimes)."""

    def __init__(
        self, client: Any, collection: str, dimension: int, generation: int, fields: Fields | None = None
    ) -> None:
        self.client = client
        self.collection = collection
        self.dimension = dimension
        self.generation = generation
        self.fields = fields  # filter fields of chunk ids, from the chunk store; only a writer has them
        self.keep: set[str] = {collection}
        self.live_generation = 0

    def __len__(self) -> int:
        rows = self.client.query(self.collection, filter=visible_in(self.generation), output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if not len(ids) or self.fields is None:
            if len(ids):
                raise TypeError("this MilvusIndex was opened to read")
            return
        ids = [int(i) for i in ids]
        fields = self.fields(ids)
        for start in range(0, len(ids), BATCH_ROWS):
            rows = [
                {
                    "chunk_id": chunk_id,
                    "vector": vector,
                    "born": self.generation,
                    "died": ALIVE,
                    "path": meta["path"][:MAX_PATH],
                    "file_type": meta["file_type"],
                    "page": -1 if meta["page"] is None else int(meta["page"]),
                    "ingested_at": float(meta["ingested_at"]),
                }
                for chunk_id, vector, meta in zip(
                    ids[start : start + BATCH_ROWS],
                    np.asarray(vectors[start : start + BATCH_ROWS], dtype=np.float32).tolist(),
                    fields[start : start + BATCH_ROWS],
                    strict=True,
                )
            ]
            self.client.upsert(self.collection, rows)

    def remove(self, ids: np.ndarray) -> None:
        """Mark the rows dead from this generation on; the live generation still sees them."""
        self._set_died([int(i) for i in ids], self.generation)

    def search(self, queries: np.ndarray, k: int, where: Where | None = None) -> tuple[np.ndarray, np.ndarray]:
        condition = visible_in(self.generation)
        if where:
            condition += f" and ({where.milvus()})"
        k = max(1, min(k, MAX_LIMIT))
        results = self.client.search(
            self.collection,
            data=np.asarray(queries, dtype=np.float32).tolist(),
            limit=k,
            filter=condition,
            search_params={"metric_type": "IP", "params": {"nprobe": NPROBE}},
            output_fields=[],
        )
        width = max([len(hits) for hits in results] + [1])
        scores = np.zeros((len(queries), width), dtype=np.float32)
        ids = np.full((len(queries), width), -1, dtype=np.int64)
        for row, hits in enumerate(results):
            for column, hit in enumerate(hits):
                ids[row, column], scores[row, column] = int(hit["chunk_id"]), float(hit["distance"])
        return scores, ids

    def vectors(self, ids: np.ndarray | list[int]) -> np.ndarray:
        wanted = [int(i) for i in ids]
        found: dict[int, list[float]] = {}
        for start in range(0, len(wanted), BATCH_ROWS):
            rows = self.client.get(self.collection, ids=wanted[start : start + BATCH_ROWS], output_fields=["vector"])
            found.update({int(r["chunk_id"]): r["vector"] for r in rows})
        if not wanted:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray([found[i] for i in wanted], dtype=np.float32)

    def ids(self) -> np.ndarray:
        return np.asarray(self._ids(visible_in(self.generation)), dtype=np.int64)

    def save(self, path: Path) -> None:
        """Make every write durable before the swap (the path is unused: the vectors are in Milvus)."""
        self.client.flush(self.collection)

    def published(self) -> None:
        """After the swap: delete the rows neither the new nor the previous generation sees, and drop the
        index's collections that no kept generation names."""
        if self.live_generation:
            self.client.delete(self.collection, filter=f"died <= {self.live_generation}")
        prefix = self.collection.rsplit("_", 1)[0] + "_"
        for name in self.client.list_collections():
            if name.startswith(prefix) and name not in self.keep:
                log.info("dropping Milvus collection %s, which no kept generation reads", name)
                self.client.drop_collection(name)

    def recover(self) -> None:
        """Undo what a writer that never published left: its rows deleted, the rows it marked dead revived."""
        live = self.live_generation
        self.client.delete(self.collection, filter=f"born > {live}")
        self._set_died(self._ids(f"died > {live} and died < {ALIVE}"), ALIVE)

    def _set_died(self, ids: list[int], died: int) -> None:
        for start in range(0, len(ids), BATCH_ROWS):
            rows = [{"chunk_id": i, "died": died} for i in ids[start : start + BATCH_ROWS]]
            self.client.upsert(self.collection, rows, partial_update=True)

    def _ids(self, condition: str) -> list[int]:
        iterator = self.client.query_iterator(
            self.collection, batch_size=BATCH_ROWS, filter=condition, output_fields=["chunk_id"]
        )
        found: list[int] = []
        try:
            while batch := iterator.next():
                found.extend(int(row["chunk_id"]) for row in batch)
        finally:
            iterator.close()
        return found
