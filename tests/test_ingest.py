"""Ingestion end to end with a fast embedder: incremental updates, pruning, atomicity and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from rag.config import Settings
from rag.errors import Cancelled, IndexLockedError, IndexMismatchError, RagError
from rag.index.embedding import Embedder
from rag.index.generations import CURRENT, Index, try_lock

from .conftest import REPO, index_files


def ingest(corpus: Path, index: Path, embedder, prune: bool = False, **settings):
    return Ingestor(Settings(index=index, **settings), embedder=embedder).run([corpus], index, prune=prune)


def snapshot(index: Path) -> dict[str, str]:
    opened = Index.open(index)
    try:
        rows = opened.store.db.execute("SELECT doc_id, hash FROM documents ORDER BY doc_id").fetchall()
        return dict(rows)
    finally:
        opened.close()


def test_first_ingest_stores_every_document(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    report = ingest(corpus, tmp_path / "idx", fake_embedder)
    assert (report.added, report.updated, report.unchanged, report.removed) == (3, 0, 0, 0)
    opened = Index.open(tmp_path / "idx")
    assert sorted(opened.store.documents()) == ["alpha.txt", "beta.md", "sub/gamma.html"]
    assert len(opened.vectors) == opened.manifest.chunks == report.chunks > 0
    assert len(opened.bm25) == report.chunks
    assert opened.manifest.embedder == "all-MiniLM-L6-v2"


def test_reingest_skips_unchanged_and_replaces_changed(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    index = tmp_path / "idx"
    ingest(corpus, index, fake_embedder)
    calls = fake_embedder.calls
    live = (index / CURRENT).read_text()
    again = ingest(corpus, index, fake_embedder)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert fake_embedder.calls == calls, "unchanged documents must not be embedded again"
    assert (index / CURRENT).read_text() == live, "an ingest that changes nothing keeps the live generation"
    assert not list(index.glob(".staging-*")) and again.chunks == Index.open(index).manifest.chunks

    (corpus / "alpha.txt").write_text("The Alpha line opened in 1895 after all.")
    changed = ingest(corpus, index, fake_embedder)
    assert (changed.added, changed.updated, changed.unchanged) == (0, 1, 2)
    opened = Index.open(index)
    texts = " ".join(c.text for c in opened.store.chunks(opened.store.chunk_ids_of("alpha.txt")))
    assert "1895" in texts and "1894" not in texts
    assert len(opened.vectors) == opened.store.counts()["chunks"], "old vectors of the changed file were removed"


def test_prune_removes_only_vanished_documents(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    index = tmp_path / "idx"
    ingest(corpus, index, fake_embedder)
    (corpus / "beta.md").unlink()
    kept = ingest(corpus, index, fake_embedder)
    assert kept.removed == 0 and "beta.md" in snapshot(index), "without --prune nothing is removed"
    pruned = ingest(corpus, index, fake_embedder, prune=True)
    assert pruned.removed == 1
    assert sorted(snapshot(index)) == ["alpha.txt", "sub/gamma.html"]
    opened = Index.open(index)
    assert len(opened.vectors) == opened.store.counts()["chunks"]


def test_same_folder_twice_gives_same_index(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    ingest(corpus, tmp_path / "a", fake_embedder)
    ingest(corpus, tmp_path / "b", fake_embedder)
    a, b = Index.open(tmp_path / "a"), Index.open(tmp_path / "b")
    chunks_a = a.store.db.execute("SELECT chunk_id, text, start, end FROM chunks ORDER BY chunk_id").fetchall()
    chunks_b = b.store.db.execute("SELECT chunk_id, text, start, end FROM chunks ORDER BY chunk_id").fetchall()
    assert chunks_a == chunks_b


def test_bad_file_is_skipped_and_keeps_stored_version(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    index = tmp_path / "idx"
    ingest(corpus, index, fake_embedder)
    before = snapshot(index)
    (corpus / "alpha.txt").write_bytes(b"\x00\x00\x00 now binary")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    (corpus / "empty.md").write_text("")
    report = ingest(corpus, index, fake_embedder, prune=True)
    reasons = {Path(p).name: r for p, r in report.skipped}
    assert set(reasons) == {"alpha.txt", "broken.pdf", "empty.md"}
    assert "binary" in reasons["alpha.txt"] and "PDF" in reasons["broken.pdf"]
    assert snapshot(index) == before, "a file that fails to load keeps its stored version, even with --prune"


def test_oversized_file_is_skipped(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    (corpus / "huge.txt").write_text("word " * 300_000)
    report = ingest(corpus, tmp_path / "idx", fake_embedder, max_file_mb=1.0)
    assert [Path(p).name for p, _ in report.skipped] == ["huge.txt"]
    assert report.added == 3


def test_exception_mid_ingest_leaves_previous_index(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    index = tmp_path / "idx"
    ingest(corpus, index, fake_embedder)
    before = snapshot(index)

    class Exploding:
        def __init__(self, inner) -> None:
            self.inner, self.tokenizer, self.dimension = inner, inner.tokenizer, inner.dimension
            self.max_tokens, self.name = inner.max_tokens, inner.name

        def encode(self, texts, progress=False):
            raise RuntimeError("embedder crashed")

    (corpus / "delta.txt").write_text("A new document about the delta branch line.")
    with pytest.raises(RuntimeError):
        ingest(corpus, index, Exploding(fake_embedder))
    assert snapshot(index) == before
    assert not list(index.glob(".staging-*")), "the half-written generation is discarded"


KILLED_INGEST = """
import sys, time
sys.path.insert(0, {tests!r}); sys.path.insert(0, {repo!r})
from conftest import HashingEmbedder
from transformers import AutoTokenizer
from rag.models import resolve_model
from rag.config import Settings
from ingest.pipeline import Ingestor
import ingest.pipeline as pipeline
pipeline.EMBED_BATCH_CHUNKS = 1

class Slow(HashingEmbedder):
    def encode(self, texts, progress=False):
        print("embedding", flush=True)
        time.sleep(0.5)
        return super().encode(texts)

embedder = Slow(AutoTokenizer.from_pretrained(resolve_model("embedder", "all-MiniLM-L6-v2")))
Ingestor(Settings(index={index!r}), embedder=embedder).run([__import__("pathlib").Path({corpus!r})], {index!r})
"""


def test_killed_ingest_leaves_previous_index_readable(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    index = tmp_path / "idx"
    ingest(corpus, index, fake_embedder)
    before = snapshot(index)
    for i in range(40):
        (corpus / f"extra-{i}.txt").write_text(f"Extra document {i} about carriage number {i}.")
    script = KILLED_INGEST.format(tests=str(REPO / "tests"), repo=str(REPO), index=str(index), corpus=str(corpus))
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        embeddings_seen = 0
        while embeddings_seen < 3 and time.time() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            embeddings_seen += line.startswith("embedding")
        assert embeddings_seen == 3, "the ingest never got going"
        assert list(index.glob(".staging-*")), "the new generation is being written aside"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert snapshot(index) == before
    report = ingest(corpus, index, fake_embedder)
    assert report.added == 40, "the next ingest recovers and completes"
    assert not list(index.glob(".staging-*"))


def test_other_embedder_is_refused(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    index = tmp_path / "idx"
    ingest(corpus, index, fake_embedder)
    with pytest.raises(IndexMismatchError, match="re-ingest"):
        Index.open(index, embedder="some/other-model")


def test_older_format_is_refused_with_advice(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    index = tmp_path / "idx"
    ingest(corpus, index, fake_embedder)
    manifest = index / (index / CURRENT).read_text().strip() / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "format_version": 0}))
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        Index.open(index)
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "index.faiss").write_bytes(b"old")
    with pytest.raises(IndexMismatchError, match="not an index of this version"):
        Index.open(legacy)


def test_missing_index_and_missing_path_are_clear(tmp_path: Path, fake_embedder) -> None:
    with pytest.raises(RagError, match="rag ingest"):
        Index.open(tmp_path / "nothing")
    with pytest.raises(RagError, match="no such file"):
        ingest(tmp_path / "absent", tmp_path / "idx", fake_embedder)


# ------------------------------------------------------------------------------------ bounded work


def test_documents_over_their_budget_are_skipped_naming_the_setting(
    corpus: Path, tmp_path: Path, fake_embedder, caplog: pytest.LogCaptureFixture
) -> None:
    (corpus / "long.txt").write_text("The line ran along the coast past the harbour. " * 200)
    report = ingest(corpus, tmp_path / "idx", fake_embedder, max_document_chars=5000)
    assert [(Path(p).name, r) for p, r in report.skipped] == [
        ("long.txt", "more than max_document_chars=5000 characters of text")
    ]
    assert report.added == 3 and "max_document_chars=5000" in caplog.text
    many = ingest(corpus, tmp_path / "idx2", fake_embedder, max_document_chunks=3, chunk_size=16, chunk_overlap=0)
    assert ("long.txt", True) in [(Path(p).name, "max_document_chunks=3" in r) for p, r in many.skipped]


def test_a_file_over_its_time_budget_is_skipped(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    report = ingest(corpus, tmp_path / "idx", fake_embedder, max_file_seconds=1e-9)
    assert report.added == 0 and len(report.skipped) == 3
    assert all("max_file_seconds=1e-09" in reason for _, reason in report.skipped)


def test_a_cancelled_ingest_stops_and_leaves_the_index(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    index = tmp_path / "idx"
    ingest(corpus, index, fake_embedder)
    before = index_files(index)
    cancel = threading.Event()

    class Cancelling(type(fake_embedder)):  # the client goes away while the first batch is embedded
        def encode(self, texts, progress=False):
            cancel.set()
            return super().encode(texts)

    (corpus / "delta.txt").write_text("A new document about the delta branch line.")
    with pytest.raises(Cancelled):
        ingestor = Ingestor(Settings(index=index), embedder=Cancelling(fake_embedder.tokenizer))
        ingestor.run([corpus], index, cancel=cancel)
    assert index_files(index) == before
    assert not list(index.glob(".staging-*"))


def test_stale_staging_is_removed_at_the_start_of_every_ingest(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    """A killed ingest leaves its staging directory; the next ingest (even one that changes nothing) removes
    it, while an ingest refused by the lock leaves the live ingest's own staging alone."""
    index = tmp_path / "idx"
    ingest(corpus, index, fake_embedder)
    stale = index / ".staging-gen-000007"
    stale.mkdir()
    (stale / "chunks.sqlite").write_bytes(b"half written")
    (index / "CURRENT.tmp").write_text("gen-000007")
    holder = try_lock(index / ".lock")  # a live ingest
    try:
        with pytest.raises(IndexLockedError, match="another ingest"):
            ingest(corpus, index, fake_embedder)
        assert stale.exists(), "the live ingest's staging is left alone"
    finally:
        assert holder is not None
        holder.close()
    report = ingest(corpus, index, fake_embedder)
    assert report.unchanged == 3 and report.added == 0
    assert not stale.exists() and not (index / "CURRENT.tmp").exists()


def test_a_concurrent_ingest_is_refused_before_the_model_loads(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    index.mkdir()
    embedder = Embedder("all-MiniLM-L6-v2")
    holder = try_lock(index / ".lock")
    try:
        with pytest.raises(IndexLockedError):
            Ingestor(Settings(index=index), embedder=embedder).run([corpus], index)
    finally:
        assert holder is not None
        holder.close()
    assert "model" not in vars(embedder), "the embedder was not loaded"


def test_an_empty_result_says_so(tmp_path: Path, fake_embedder) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    report = ingest(empty, tmp_path / "idx", fake_embedder)
    assert report.files == 0 and "no files found" in report.warnings[0]
    unusable = tmp_path / "unusable"
    unusable.mkdir()
    (unusable / "photo.png").write_bytes(b"\x89PNG\r\n")
    (unusable / "blank.txt").write_text("")
    report = ingest(unusable, tmp_path / "idx", fake_embedder)
    assert report.files == 2 and report.to_dict()["warnings"] == list(report.warnings) and len(report.warnings) == 1
    warning = report.warnings[0]
    assert "2 files seen" in warning and "unsupported file type .png" in warning and "empty file" in warning


def test_links_and_names_that_cannot_be_loaded_say_why(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    (corpus / "loop1.txt").symlink_to(corpus / "loop2.txt")
    (corpus / "loop2.txt").symlink_to(corpus / "loop1.txt")
    (corpus / "gone.txt").symlink_to(corpus / "missing.txt")
    (corpus / "sub" / "up").symlink_to(corpus)
    (corpus / os.fsdecode(b"caf\xe9.txt")).write_text("A file whose name is Latin-1, not UTF-8.")
    report = ingest(corpus, tmp_path / "idx", fake_embedder)
    reasons = {Path(p).name: r for p, r in report.skipped}
    assert reasons["loop1.txt"].startswith("symlink loop") and reasons["loop2.txt"].startswith("symlink loop")
    assert reasons["gone.txt"].startswith("broken symlink") and "not followed" in reasons["up"]
    assert "not valid UTF-8" in reasons[os.fsdecode(b"caf\xe9.txt")]
    assert report.added == 3


@pytest.mark.slow
def test_rag_ingest_of_an_empty_folder_warns(tmp_path: Path) -> None:
    """The command says it kept nothing, and why (it loads the default embedder to build the index)."""
    from typer.testing import CliRunner

    from rag.cli import app

    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(app, ["ingest", str(empty), "--index", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.output
    assert "warning: no files found under" in " ".join(result.stderr.split())
