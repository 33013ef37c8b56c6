"""Retrieval: RRF fusion arithmetic, the three modes over a real index built with the fast embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from rag.config import Settings
from rag.errors import InputError, UnknownNameError
from rag.pipeline import Pipeline
from rag.retrieval.retriever import IndexRetriever, reciprocal_rank_fusion

from .conftest import save_tiny_bert


def test_rrf_rewards_agreement_and_orders_ties_stably() -> None:
    fused = reciprocal_rank_fusion([[(1, 0.9), (2, 0.8), (3, 0.1)], [(3, 5.0), (1, 4.0)]], k=60)
    assert [chunk_id for chunk_id, _ in fused] == [1, 3, 2]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert reciprocal_rank_fusion([[(5, 1.0)], [(4, 1.0)]], k=60) == [(4, 1 / 61), (5, 1 / 61)]


@pytest.fixture
def pipeline(corpus: Path, tmp_path: Path, fake_embedder) -> Pipeline:
    index = tmp_path / "idx"
    Ingestor(Settings(index=index), embedder=fake_embedder).run([corpus], index)
    return with_embedder(Settings(index=index, top_k=3), fake_embedder)


def with_embedder(settings: Settings, embedder) -> Pipeline:
    """The pipeline of `settings` retrieving with `embedder`."""
    return Pipeline.from_settings(settings).with_parts(retriever=IndexRetriever(settings.index, embedder, settings))


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_document_with_the_answer(pipeline: Pipeline, mode: str) -> None:
    passages = pipeline.search("How many locomotives does the depot hold?", mode=mode)
    assert passages[0].chunk.doc_id == "sub/gamma.html"
    assert [p.rank for p in passages] == list(range(1, len(passages) + 1))
    assert all(-1.0 <= p.scores["dense"] <= 1.0 for p in passages)


def test_bm25_ignores_queries_without_known_words(pipeline: Pipeline) -> None:
    assert pipeline.search("zzzz qqqq", mode="bm25") == []


def test_hybrid_returns_top_k(pipeline: Pipeline) -> None:
    assert len(pipeline.search("station platforms fire", k=2)) == 2


def test_unknown_mode_and_bad_questions(pipeline: Pipeline) -> None:
    with pytest.raises(UnknownNameError, match="bm25, dense, hybrid"):
        pipeline.search("anything", mode="sparse")
    with pytest.raises(InputError, match="empty"):
        pipeline.search("   ")
    with pytest.raises(InputError, match="max_question_chars"):
        pipeline.search("why " * 25_000)


@pytest.fixture(scope="module")
def tiny_reranker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 1-label cross-encoder saved as a local model directory."""
    words = "depot locomotives station platforms fire line opened coast volunteers how many the".split()  # noqa: SIM905
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-reranker"), words, num_labels=1)


def test_reranker_orders_passages_by_cross_encoder_score(pipeline: Pipeline, tiny_reranker: Path) -> None:
    from sentence_transformers import CrossEncoder

    settings = pipeline.settings.with_overrides(reranker=str(tiny_reranker), top_k=5)
    reranked = with_embedder(settings, pipeline.embedder)
    query = "How many locomotives does the depot hold?"
    passages = reranked.search(query)
    candidates = pipeline.search(query, k=50)
    model = CrossEncoder(str(tiny_reranker), device="cpu")
    scores = model.predict([(query, p.chunk.text) for p in candidates])
    expected = [p.chunk.chunk_id for _, p in sorted(zip(scores, candidates, strict=True), key=lambda x: -x[0])]
    assert [p.chunk.chunk_id for p in passages] == expected[: len(passages)]
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


def test_missing_reranker_names_the_setting(pipeline: Pipeline, tmp_path: Path) -> None:
    from rag.errors import ModelNotFoundError

    broken = with_embedder(
        pipeline.settings.with_overrides(reranker=str(tmp_path / "no-such-model")), pipeline.embedder
    )
    with pytest.raises(ModelNotFoundError, match="reranker"):
        broken.search("depot")
