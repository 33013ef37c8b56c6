"""The Ray ingest engine on a local Ray instance (2 CPUs at most): the same chunks and vectors as the local
engine with the real embedder, written by the `rag` CLI into Milvus Lite and searched with a filter; a failing
actor and a killed driver leave the live index as it was. Slow: a Ray instance takes about 10 s to start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.pipeline import Ingestor
from rag.config import Settings
from rag.errors import RagError
from rag.index.generations import Index

from .conftest import DATA, REPO

pytest.importorskip("ray")
pytest.importorskip("pymilvus")
pytestmark = pytest.mark.slow

CHUNK_COLUMNS = "SELECT chunk_id, doc_id, ordinal, text, start, end, page, heading, sentences FROM chunks"
INT8_TOLERANCE = 0.02  # largest difference of one vector component between two batchings of the int8 model


@pytest.fixture
def in_process_ray() -> Iterator[None]:
    """A test that runs the Ray engine in this process: its local Ray instance is shut down after it, so that
    the next test's subprocess has the machine to itself."""
    import ray

    yield
    ray.shutdown()


def snapshot(index: Path) -> dict[str, Any]:
    opened = Index.open(index)
    try:
        return {
            "documents": dict(opened.store.db.execute("SELECT doc_id, hash FROM documents").fetchall()),
            "chunks": opened.store.db.execute(f"{CHUNK_COLUMNS} ORDER BY chunk_id").fetchall(),
            "vectors": sorted(opened.vectors.ids().tolist()),
            "generation": opened.generation.name,
        }
    finally:
        opened.close()


def rag(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "rag.cli", *arguments]
    return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=REPO, timeout=600)


def test_cli_ray_ingest_into_milvus_matches_the_local_ingest(tmp_path: Path) -> None:
    """`rag ingest --engine ray --store milvus-lite://...` on the sample corpus, as the README shows it."""
    local = tmp_path / "local"
    Ingestor(Settings(index=local)).run([DATA / "corpus"], local)
    index, store = tmp_path / "ray", f"milvus-lite://{tmp_path / 'milvus' / 'index.db'}"
    done = rag("ingest", str(DATA / "corpus"), "--index", str(index), "--engine", "ray", "--store", store, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    ours, theirs = snapshot(index), snapshot(local)
    assert report["added"] == len(theirs["documents"]) and report["chunks"] == len(theirs["chunks"])
    assert ours["chunks"] == theirs["chunks"], "the same chunk ids, texts, offsets, pages and sentences"
    assert ours["vectors"] == theirs["vectors"]
    ray_index, local_index = Index.open(index), Index.open(local)
    ids = local_index.vectors.ids()
    difference = np.abs(ray_index.vectors.vectors(ids) - local_index.vectors.vectors(ids)).max()
    assert difference < INT8_TOLERANCE, "the same vectors within int8 tolerance"
    ray_index.close()
    from rag.index.milvus import close_clients

    close_clients()  # Milvus Lite serves one process at a time: the CLI needs the file

    found = rag("search", "What does a ticket cost?", "--index", str(index), "--where", "type=pdf", "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits and {Path(h["doc_id"]).suffix for h in hits} == {".pdf"} and all(h["page"] for h in hits)
    bad = rag("search", "fares", "--index", str(index), "--where", "page=soon")
    assert bad.returncode == 2 and bad.stderr.startswith("error: bad page in filter")


@pytest.mark.usefixtures("in_process_ray")
def test_failing_ray_actor_leaves_the_live_index(corpus: Path, tmp_path: Path, fake_embedder: Any) -> None:
    from ingest.ray_engine import RayIngestor
    from rag.fakes import HashingEmbedder

    class Failing(HashingEmbedder):  # defined here so that Ray ships it by value to its actors
        def encode(self, texts: Any, progress: bool = False) -> np.ndarray:
            raise RuntimeError("embedder crashed in its actor")

    settings = Settings(index=tmp_path / "idx", store=f"milvus-lite://{tmp_path / 'milvus.db'}", ray_workers=1)
    first = RayIngestor(settings, embedder=fake_embedder).run([corpus], settings.index)
    before = snapshot(settings.index)
    assert first.added == 3 and len(before["vectors"]) == first.chunks
    (corpus / "delta.txt").write_text("A new document about the delta branch line.")
    with pytest.raises(RagError, match="Ray ingest failed and the live index is unchanged"):
        RayIngestor(settings, embedder=Failing(fake_embedder.tokenizer)).run([corpus], settings.index)
    assert snapshot(settings.index) == before
    again = Ingestor(settings, embedder=fake_embedder).run([corpus], settings.index, prune=True)
    assert (again.added, again.unchanged) == (1, 3), "the next ingest completes"
    after = snapshot(settings.index)
    assert after["vectors"] == sorted(r[0] for r in after["chunks"])


@pytest.mark.usefixtures("in_process_ray")
def test_the_ray_engine_skips_what_the_local_engine_skips(corpus: Path, tmp_path: Path, fake_embedder: Any) -> None:
    """The local engine's budgets and walk problems hold on Ray too: a document with too much text, one cut into
    too many chunks and a broken link are skipped with the same reasons, and the rest is indexed alike."""
    from ingest.ray_engine import RayIngestor

    sentence = "The line ran along the coast past the harbour. "
    (corpus / "long.txt").write_text(sentence * 200)
    (corpus / "medium.txt").write_text(sentence * 30)
    (corpus / "gone.txt").symlink_to(corpus / "nowhere.txt")
    budgets = {"max_document_chars": 5000, "max_document_chunks": 4, "chunk_size": 16, "chunk_overlap": 0}
    local = Ingestor(Settings(index=tmp_path / "local", **budgets), embedder=fake_embedder)
    theirs = local.run([corpus], tmp_path / "local")
    engine = RayIngestor(Settings(index=tmp_path / "ray", ray_workers=1, **budgets), embedder=fake_embedder)
    ours = engine.run([corpus], tmp_path / "ray")
    reasons = {Path(path).name: reason for path, reason in theirs.skipped}
    assert "max_document_chars=5000" in reasons["long.txt"] and "max_document_chunks=4" in reasons["medium.txt"]
    assert "broken symlink" in reasons["gone.txt"]
    assert sorted(ours.skipped) == sorted(theirs.skipped)
    assert (ours.added, ours.chunks) == (theirs.added, theirs.chunks) and ours.added >= 1
    assert snapshot(tmp_path / "ray")["chunks"] == snapshot(tmp_path / "local")["chunks"]


KILLED_RAY_INGEST = """
import sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from transformers import AutoTokenizer
from rag.models import resolve_model
from rag.config import Settings
from rag.fakes import HashingEmbedder
from ingest.ray_engine import RayIngestor

class Slow(HashingEmbedder):
    def encode(self, texts, progress=False):
        Path({marker!r}).touch()
        time.sleep(0.5)
        return super().encode(texts)

embedder = Slow(AutoTokenizer.from_pretrained(resolve_model("embedder", "all-MiniLM-L6-v2")))
settings = Settings(index={index!r}, store={store!r}, ray_workers=1)
RayIngestor(settings, embedder=embedder).run([Path({corpus!r})], {index!r})
"""


def test_killed_ray_ingest_leaves_the_live_index(corpus: Path, tmp_path: Path, fake_embedder: Any) -> None:
    """SIGKILL to the driver and its local Ray instance mid-embedding: the live index is as it was, and the
    next ingest (here the local engine) completes."""
    index, store, marker = tmp_path / "idx", f"milvus-lite://{tmp_path / 'milvus.db'}", tmp_path / "embedding"
    settings = Settings(index=index, store=store)
    Ingestor(settings, embedder=fake_embedder).run([corpus], index)
    from rag.index.milvus import close_clients

    before = snapshot(index)
    close_clients()  # Milvus Lite serves one process at a time: the child needs the file
    for i in range(200):
        (corpus / f"extra-{i}.txt").write_text(f"Extra document {i} about carriage number {i}.")
    script = KILLED_RAY_INGEST.format(
        repo=str(REPO), marker=str(marker), index=str(index), store=store, corpus=str(corpus)
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True, env=environment)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker.exists(), "the Ray ingest never got to embedding"
        assert list(index.glob(".staging-*")), "the new generation is being written aside"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert snapshot(index) == before
    close_clients()
    report = Ingestor(settings, embedder=fake_embedder).run([corpus], index)
    assert report.added == 200, "the next ingest recovers and completes"
    after = snapshot(index)
    assert after["vectors"] == sorted(r[0] for r in after["chunks"]) and not list(index.glob(".staging-*"))


class FlakyRay:
    """A stand-in for the ray module whose first `failures` starts run out of Ray's start-up wait."""

    def __init__(self, failures: int, message: str = "The current node timed out during startup.") -> None:
        self.failures, self.message, self.calls = failures, message, []

    def init(self, **options: Any) -> None:
        self.calls.append("init")
        if self.calls.count("init") <= self.failures:
            raise RuntimeError(self.message)

    def shutdown(self) -> None:
        self.calls.append("shutdown")


def test_a_local_start_that_times_out_is_shut_down_and_tried_again() -> None:
    from ingest.ray_engine import LOCAL_START_ATTEMPTS, start_local

    ray = FlakyRay(failures=LOCAL_START_ATTEMPTS - 1)
    start_local(ray, {})
    assert ray.calls == ["init", "shutdown"] * (LOCAL_START_ATTEMPTS - 1) + ["init"]
    with pytest.raises(RuntimeError, match="timed out"):
        start_local(FlakyRay(failures=LOCAL_START_ATTEMPTS), {})
    other = FlakyRay(failures=1, message="address already in use")
    with pytest.raises(RuntimeError, match="address"):
        start_local(other, {})  # only the start-up timeout is tried again
    assert other.calls == ["init"]
