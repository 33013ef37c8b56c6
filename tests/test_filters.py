"""Metadata filters (path glob, file type, page range, ingest time) in search and ask, on the FAISS and the
Milvus store, through the Python API, the HTTP API and the CLI's parser."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ingest.pipeline import Ingestor
from rag.cli import answer_with_progress, app
from rag.config import Settings
from rag.errors import InputError, RagError
from rag.fakes import fake_pipeline
from rag.index.filters import Where
from rag.index.generations import Index
from rag.pipeline import Pipeline
from rag.retrieval.retriever import IndexRetriever
from rag.serve.app import create_app

QUERY = "Which station or depot opened with platforms, locomotives, fares and trains?"
PAGES = ["The fare page says a ticket costs four pounds.", "The timetable page says trains run hourly.", "The map page"]


def test_where_parses_the_cli_expressions() -> None:
    where = Where.parse(["path=sub/*", "type=HTML,.md", "page=2-3", "page>=2", "ingested>=1700000000"])
    assert where == Where(path="sub/*", file_types=("html", "md"), page_from=2, page_to=3, ingested_from=1.7e9)
    assert Where.parse(["ingested<=2026-11-30"]).ingested_to == datetime(2026, 11, 30).astimezone().timestamp()
    assert not Where.parse([]) and Where.parse(["page<=4"]).page_to == 4
    for bad in ["colour=red", "path>=x", "page=two", "ingested>=yesterday", "type"]:
        with pytest.raises(InputError, match="filter"):
            Where.parse([bad])


def test_milvus_expression_escapes_like_patterns() -> None:
    where = Where.parse(["path=my_docs/*.md", "type=pdf", "page=2-3"])
    assert where.milvus() == (
        'path like "my\\\\_docs/%.md" and file_type in ["pdf"] and page >= 0 and page >= 2 and page <= 3'
    )
    with pytest.raises(InputError, match="character classes"):
        Where.parse(["path=[ab]*"]).milvus()


def write_pdf(path: Path) -> None:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    for text in PAGES:
        pdf.drawString(72, 720, text)
        pdf.showPage()
    pdf.save()


@pytest.fixture(params=["faiss", "milvus"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "faiss":
        return "faiss"
    pytest.importorskip("pymilvus")
    return f"milvus-lite://{tmp_path / 'milvus' / 'index.db'}"


@pytest.fixture
def indexed(corpus: Path, tmp_path: Path, fake_embedder: Any, store: str) -> tuple[Settings, float]:
    """The test corpus and a 3-page PDF ingested, then one more file later; the time between the two."""
    pytest.importorskip("reportlab")
    write_pdf(corpus / "fares.pdf")
    settings = Settings(index=tmp_path / "idx", store=store, chunk_size=16, chunk_overlap=0)
    Ingestor(settings, embedder=fake_embedder).run([corpus], settings.index)
    between = time.time()
    (corpus / "late.txt").write_text("The late station opened with new platforms for trains.")
    Ingestor(settings, embedder=fake_embedder).run([corpus], settings.index)
    return settings, between


def pipeline_of(settings: Settings, embedder: Any) -> Pipeline:
    return fake_pipeline(settings).with_parts(retriever=IndexRetriever(settings.index, embedder, settings))


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_filters_restrict_search(indexed: tuple[Settings, float], fake_embedder: Any, mode: str) -> None:
    settings, between = indexed
    pipeline = pipeline_of(settings, fake_embedder)

    def hits(*where: str) -> list[Any]:
        return [p.chunk for p in pipeline.search(QUERY, k=50, mode=mode, where=list(where))]

    everything = hits()
    assert {c.doc_id for c in everything} >= {"alpha.txt", "beta.md", "sub/gamma.html", "fares.pdf", "late.txt"}
    assert {c.doc_id for c in hits("path=sub/*")} == {"sub/gamma.html"}
    assert {c.doc_id for c in hits("type=md,html")} == {"beta.md", "sub/gamma.html"}
    paged = hits("page=2-3")
    assert paged and {c.page for c in paged} <= {2, 3} and {c.doc_id for c in paged} == {"fares.pdf"}
    assert {c.page for c in hits("page>=2", "page<=2")} == {2}
    assert {c.doc_id for c in hits(f"ingested>={between}")} == {"late.txt"}
    assert "late.txt" not in {c.doc_id for c in hits(f"ingested<={between}")}
    assert hits("path=nowhere/*") == []


def test_ask_retrieves_only_what_the_filter_allows(indexed: tuple[Settings, float], fake_embedder: Any) -> None:
    settings, _ = indexed
    answer = pipeline_of(settings, fake_embedder).ask(QUERY, where=Where(file_types=("pdf",)))
    assert answer.retrieved and {p.chunk.doc_id for p in answer.retrieved} == {"fares.pdf"}


def test_cli_ask_filters_and_refuses_a_bad_filter_before_models_load(
    indexed: tuple[Settings, float], fake_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = indexed
    answer = answer_with_progress(pipeline_of(settings, fake_embedder), QUERY, where=Where(file_types=("pdf",)))
    assert answer.retrieved and {p.chunk.doc_id for p in answer.retrieved} == {"fares.pdf"}

    def no_models(pipeline: Pipeline) -> None:
        raise AssertionError("models loaded for a bad filter")

    monkeypatch.setattr(Pipeline, "warm_up", no_models)
    bad = CliRunner().invoke(app, ["ask", QUERY, "--index", str(settings.index), "--where", "page=soon"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: bad page in filter"), bad.stderr


def test_http_api_takes_filters(indexed: tuple[Settings, float], fake_embedder: Any) -> None:
    settings, _ = indexed
    app = create_app(settings, pipeline_of(settings, fake_embedder))
    with TestClient(app, raise_server_exceptions=False) as client:
        found = client.get("/search", params={"q": QUERY, "k": 50, "where": ["type=pdf", "page=2"]}).json()
        assert found["where"]["file_types"] == ["pdf"]
        assert {(p["doc_id"], p["page"]) for p in found["passages"]} == {("fares.pdf", 2)}
        answer = client.post("/ask", json={"question": QUERY, "where": ["path=sub/*"]}).json()
        assert {p["doc_id"] for p in answer["passages"]} == {"sub/gamma.html"}
        with client.stream("POST", "/ask/stream", json={"question": QUERY, "where": ["type=pdf"]}) as events:
            streamed = [json.loads(line[5:]) for line in events.iter_lines() if line.startswith("data:")]
        chosen = [{p["doc_id"] for p in data["passages"]} for data in streamed if "passages" in data]
        assert chosen[0] == {"fares.pdf"} and all(c <= {"fares.pdf"} for c in chosen), "passages, then the answer's"
        bad = client.get("/search", params={"q": QUERY, "where": "page=soon"})
        assert bad.status_code == 422 and "page" in bad.json()["error"]


@pytest.mark.parametrize("store", ["faiss"], indirect=True)
def test_faiss_filter_by_selector_matches_exact(indexed: tuple[Settings, float], monkeypatch: Any) -> None:
    """Past EXACT_FILTER_MAX allowed ids FAISS searches with an id selector: the same hits."""
    import rag.index.vectors as vectors

    settings, _ = indexed
    opened = Index.open(settings.index)
    query = opened.vectors.vectors(opened.vectors.ids()[:1])
    where = Where(file_types=("pdf", "md"))
    exact = opened.vectors.search(query, 5, where)
    monkeypatch.setattr(vectors, "EXACT_FILTER_MAX", 0)
    selected = opened.vectors.search(query, 5, where)
    assert np.array_equal(exact[1], selected[1]) and np.allclose(exact[0], selected[0], atol=1e-5)
    allowed = set(opened.allowed(where).tolist())
    assert set(selected[1][0][selected[1][0] >= 0].tolist()) <= allowed


def test_store_of_an_older_index_gets_the_filter_columns(corpus: Path, tmp_path: Path, fake_embedder: Any) -> None:
    """A chunk store written before the filters is given the columns, filled in, at its next ingest."""
    settings = Settings(index=tmp_path / "idx")
    Ingestor(settings, embedder=fake_embedder).run([corpus], settings.index)
    opened = Index.open(settings.index)
    live = opened.generation / "chunks.sqlite"
    opened.close()
    import sqlite3

    with sqlite3.connect(live) as db:
        for column in ("path", "file_type", "ingested_at"):
            db.execute(f"ALTER TABLE documents DROP COLUMN {column}")
    with pytest.raises(RagError, match="predates metadata filters"):
        Index.open(settings.index).store.ids_where(Where(file_types=("md",)))
    Ingestor(settings, embedder=fake_embedder).run([corpus], settings.index)  # nothing changed but the columns
    opened = Index.open(settings.index)
    assert {opened.store.chunks([i])[0].doc_id for i in opened.store.ids_where(Where(path="sub/*"))} == {
        "sub/gamma.html"
    }
