"""End to end with the real default models on the sample corpus: ingest, ask, verify, abstain, JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eval.datasets import load_items
from rag.pipeline import Pipeline

from .conftest import DATA

pytestmark = pytest.mark.slow

QUESTIONS = {item.id: item for item in load_items(DATA / "questions.jsonl")}


@pytest.fixture(scope="module")
def pipeline(sample_index: Path) -> Pipeline:
    built = Pipeline.from_index(sample_index)
    built.warm_up()
    return built


def test_sample_corpus_ingests_every_format(sample_index: Path) -> None:
    from rag.index.generations import Index

    opened = Index.open(sample_index)
    doc_ids = list(opened.store.documents())
    assert {Path(d).suffix for d in doc_ids} == {".md", ".txt", ".html", ".pdf", ".docx", ".pptx", ".xlsx", ".csv"}
    pages = opened.store.db.execute("SELECT COUNT(DISTINCT page) FROM chunks WHERE page IS NOT NULL").fetchone()[0]
    assert pages >= 2, "PDF chunks keep their page numbers"


def test_answerable_question_gets_a_cited_verified_answer(pipeline: Pipeline) -> None:
    item = QUESTIONS["q001"]
    answer = pipeline.ask(item.question)
    assert not answer.abstained, answer.abstain_reason
    assert all(s.supported and s.citations for s in answer.sentences)
    quotes = [c for s in answer.sentences for c in s.citations]
    assert any(c.doc_id in item.gold_doc_ids for c in quotes)
    assert any("1898" in c.quote for c in quotes)
    for citation in quotes:
        document = pipeline.document(citation.doc_id)
        assert document["text"][citation.start : citation.end] == citation.quote


def test_unanswerable_question_abstains(pipeline: Pipeline) -> None:
    answer = pipeline.ask(QUESTIONS["q033"].question)
    assert answer.abstained
    assert answer.abstain_reason
    assert answer.answer == "The corpus does not say."


def test_off_topic_question_abstains_before_generating(pipeline: Pipeline) -> None:
    answer = pipeline.ask("What is the boiling point of liquid nitrogen in kelvin?")
    assert answer.abstained
    assert "generate" not in answer.timings or not answer.sentences


def test_json_output_schema(sample_index: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ask", QUESTIONS["q001"].question, "--index", str(sample_index), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    data = json.loads(result.stdout)
    expected = {"question", "answer", "abstained", "abstain_reason", "sentences", "passages", "raw_answer", "timings"}
    assert expected <= set(data) and data["composition"] == "extractive"
    assert {"retrieve", "select"} <= set(data["timings"])
    for sentence in data["sentences"]:
        assert {"text", "supported", "support", "citations"} <= set(sentence)
        for citation in sentence["citations"]:
            assert {"n", "chunk_id", "doc_id", "quote", "start", "end"} <= set(citation)
    for passage in data["passages"]:
        assert {"n", "chunk_id", "doc_id", "title", "score", "text"} <= set(passage)
    assert [p["n"] for p in data["passages"]] == list(range(1, len(data["passages"]) + 1))


def test_terminal_abstention_says_why_and_names_the_closest_sentences(sample_index: Path) -> None:
    question = QUESTIONS["q033"].question
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ask", question, "--index", str(sample_index)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "No answer" in result.stdout and "The corpus does not say." in result.stdout
    assert "Reason: " in result.stdout and "Closest source sentences" in result.stdout
    assert "Extractive answer" not in result.stdout
