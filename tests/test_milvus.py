"""The Milvus store on Milvus Lite: the local ingest's incremental, idempotent and prune semantics, the same
ranking as FAISS, a failed ingest that leaves the live generation as it was and is undone by the next one,
rebuilds into a new collection, and a store switch that needs --rebuild."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ingest.pipeline as local_engine
from ingest.pipeline import Ingestor
from rag.config import Settings
from rag.errors import IndexMismatchError
from rag.index.generations import CURRENT, Index
from rag.retrieval.retriever import IndexRetriever

pytest.importorskip("pymilvus")

QUERIES = ["How many locomotives does the depot hold?", "station platforms fire", "line opened coast 1894"]


@pytest.fixture(autouse=True)
def _close_milvus() -> Iterator[None]:
    from rag.index.milvus import close_clients

    yield
    close_clients()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index=tmp_path / "idx", store=f"milvus-lite://{tmp_path / 'milvus.db'}")


def ingest(settings: Settings, corpus: Path, embedder: Any, prune: bool = False, rebuild: bool = False) -> Any:
    return Ingestor(settings, embedder=embedder).run([corpus], settings.index, prune=prune, rebuild=rebuild)


def live(settings: Settings) -> dict[str, Any]:
    """What the live generation holds: documents, chunk ids in the store, and the ids visible in Milvus."""
    opened = Index.open(settings.index)
    try:
        chunk_ids = sorted(r[0] for r in opened.store.db.execute("SELECT chunk_id FROM chunks"))
        return {
            "documents": dict(opened.store.db.execute("SELECT doc_id, hash FROM documents").fetchall()),
            "chunk_ids": chunk_ids,
            "visible": sorted(opened.vectors.ids().tolist()),
            "count": len(opened.vectors),
            "collection": opened.manifest.collection,
        }
    finally:
        opened.close()


def rows_in_collection(settings: Settings, collection: str) -> int:
    from rag.index.milvus import client_for

    client = client_for(str(settings.store))
    return int(client.query(collection, filter="", output_fields=["count(*)"])[0]["count(*)"])


def test_milvus_ingest_is_incremental_idempotent_and_prunes(
    settings: Settings, corpus: Path, fake_embedder: Any
) -> None:
    first = ingest(settings, corpus, fake_embedder)
    assert (first.added, first.chunks) == (3, live(settings)["count"])
    state = live(settings)
    assert state["visible"] == state["chunk_ids"] and state["collection"].startswith("rag_")

    calls, pointer = fake_embedder.calls, (settings.index / CURRENT).read_text()
    again = ingest(settings, corpus, fake_embedder)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert fake_embedder.calls == calls and (settings.index / CURRENT).read_text() == pointer

    (corpus / "alpha.txt").write_text("The Alpha line opened in 1895 after all.")
    changed = ingest(settings, corpus, fake_embedder)
    assert (changed.updated, changed.unchanged) == (1, 2)
    after = live(settings)
    assert after["visible"] == after["chunk_ids"], "the changed file's old vectors are gone, its new ones in"
    assert set(after["chunk_ids"]) != set(state["chunk_ids"])

    (corpus / "beta.md").unlink()
    assert ingest(settings, corpus, fake_embedder).removed == 0
    pruned = ingest(settings, corpus, fake_embedder, prune=True)
    final = live(settings)
    assert pruned.removed == 1 and sorted(final["documents"]) == ["alpha.txt", "sub/gamma.html"]
    assert final["visible"] == final["chunk_ids"]
    ingest(settings, corpus, fake_embedder, prune=True)  # nothing changes: the dead rows of the prune stay ...
    (corpus / "delta.txt").write_text("The delta branch.")
    ingest(settings, corpus, fake_embedder)  # ... until two generations later no kept generation sees them
    assert rows_in_collection(settings, final["collection"]) == live(settings)["count"]


def test_milvus_finds_what_faiss_finds(settings: Settings, corpus: Path, fake_embedder: Any, tmp_path: Path) -> None:
    faiss_settings = Settings(index=tmp_path / "faiss")
    ingest(settings, corpus, fake_embedder)
    ingest(faiss_settings, corpus, fake_embedder)
    for mode in ("dense", "hybrid"):
        milvus = IndexRetriever(settings.index, fake_embedder, settings.with_overrides(retrieval_mode=mode))
        faiss = IndexRetriever(faiss_settings.index, fake_embedder, faiss_settings.with_overrides(retrieval_mode=mode))
        for query in QUERIES:
            ours, theirs = milvus.retrieve(query, k=5), faiss.retrieve(query, k=5)
            assert ours[0].chunk == theirs[0].chunk, (mode, query)  # Milvus's IVF_SQ8 may swap close ones below
            dense = {p.chunk.chunk_id: p.scores["dense"] for p in theirs}
            assert {p.chunk.chunk_id: pytest.approx(p.scores["dense"], abs=1e-5) for p in ours} == dense


class FailsOnSecondBatch:
    """The fake embedder, raising on its second call (after the first batch went into the vector store)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0
        self.tokenizer, self.dimension, self.max_tokens = inner.tokenizer, inner.dimension, inner.max_tokens
        self.name, self.backend = inner.name, inner.backend

    def encode(self, texts: Any, progress: bool = False) -> np.ndarray:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("embedder crashed")
        return self.inner.encode(texts)


def test_failed_ingest_leaves_the_live_generation_and_is_undone(
    settings: Settings, corpus: Path, fake_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(settings, corpus, fake_embedder)
    before = live(settings)
    hits = [p.chunk.chunk_id for p in IndexRetriever(settings.index, fake_embedder, settings).retrieve(QUERIES[0])]
    (corpus / "alpha.txt").write_text("The Alpha line opened in 1895 after all.")
    (corpus / "beta.md").write_text("# Beta\n\nBeta station was rebuilt in 1931.")
    monkeypatch.setattr(local_engine, "EMBED_BATCH_CHUNKS", 1)
    with pytest.raises(RuntimeError, match="embedder crashed"):
        ingest(settings, corpus, FailsOnSecondBatch(fake_embedder))
    assert live(settings) == before, "the first batch's rows (new and marked dead) are invisible to the live one"
    retriever = IndexRetriever(settings.index, fake_embedder, settings)
    assert [p.chunk.chunk_id for p in retriever.retrieve(QUERIES[0])] == hits

    report = ingest(settings, corpus, fake_embedder)
    assert (report.updated, report.unchanged) == (2, 1)
    after = live(settings)
    assert after["visible"] == after["chunk_ids"] and after["count"] == report.chunks


def test_rebuild_writes_a_new_collection_and_a_store_switch_needs_it(
    settings: Settings, corpus: Path, fake_embedder: Any
) -> None:
    ingest(settings, corpus, fake_embedder)
    old = live(settings)["collection"]
    ingest(settings, corpus, fake_embedder, rebuild=True)
    rebuilt = live(settings)
    assert rebuilt["collection"] != old and rebuilt["visible"] == rebuilt["chunk_ids"]
    (corpus / "delta.txt").write_text("The delta branch.")
    ingest(settings, corpus, fake_embedder)

    from rag.index.milvus import client_for

    assert old not in client_for(str(settings.store)).list_collections(), "no kept generation reads it any more"
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        ingest(settings.with_overrides(store="faiss"), corpus, fake_embedder)
    moved = ingest(settings.with_overrides(store="faiss"), corpus, fake_embedder, rebuild=True)
    assert moved.chunks == len(Index.open(settings.index).vectors)
    assert ingest(Settings(index=settings.index), corpus, fake_embedder).unchanged == 4, "no --store: the index's"
