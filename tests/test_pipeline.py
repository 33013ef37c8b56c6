"""Pipeline.ask with a fast embedder, a scripted generator and a word-overlap scorer: the stage wiring,
policies, abstention reasons, the extractive fallback and the streamed events."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from rag.compose.base import GENERATOR_ABSTAINED
from rag.config import Settings
from rag.fakes import EVERY_ELIGIBLE, OverlapScorer, ScriptedGenerator
from rag.generation.context import load_context
from rag.pipeline import NOTHING_RELEVANT, Pipeline
from rag.retrieval.retriever import IndexRetriever
from rag.verify.relevance import AnswerCheck
from rag.verify.verifier import Verifier


@pytest.fixture
def make_pipeline(corpus: Path, tmp_path: Path, fake_embedder):
    index = tmp_path / "idx"
    Ingestor(Settings(index=index), embedder=fake_embedder).run([corpus], index)

    def build(answer: str, **settings) -> Pipeline:
        chosen = Settings(**{"index": index, "top_k": 3, "min_relevance": 0.1, "composition": "free", **settings})
        return Pipeline.from_settings(chosen).with_parts(
            retriever=IndexRetriever(index, fake_embedder, chosen),
            context=load_context(chosen.context, fake_embedder, chosen.context_sentences),
            answers=AnswerCheck(fake_embedder.encode, EVERY_ELIGIBLE),
            generator=ScriptedGenerator(answer),
            verifier=Verifier(OverlapScorer()),
        )

    return build


QUESTION = "How many locomotives does the depot hold?"


def test_supported_answer_is_cited_and_quoted(make_pipeline) -> None:
    pipeline = make_pipeline("The depot holds four locomotives [1].")
    answer = pipeline.ask(QUESTION)
    assert not answer.abstained
    [sentence] = answer.sentences
    [citation] = sentence.citations
    assert citation.doc_id == "sub/gamma.html" and citation.quote == "The depot holds four locomotives."
    assert answer.answer == "The depot holds four locomotives. [1]"
    assert "[1] Gamma depot" in pipeline.generator.prompts[0].user
    assert {"retrieve", "prompt", "generate", "verify"} <= set(answer.timings)


def test_filter_withholds_unsupported_sentences(make_pipeline) -> None:
    answer = make_pipeline("The depot holds four locomotives [1]. It was painted green in 1950 [1].").ask(QUESTION)
    assert [s.text for s in answer.sentences] == ["The depot holds four locomotives."]
    assert [s.text for s in answer.removed_sentences] == ["It was painted green in 1950."]
    assert answer.removed == 1 and answer.to_dict()["removed"] == 1
    assert "1950" in answer.raw_answer and "1950" not in answer.answer


def test_strict_abstains_on_one_unsupported_sentence(make_pipeline) -> None:
    raw = "The depot holds four locomotives [1]. It was painted green in 1950 [1]."
    answer = make_pipeline(raw, extractive_fallback=False).ask(QUESTION, policy="strict")
    assert answer.abstained and "strict" in answer.abstain_reason
    assert answer.answer == "The corpus does not say."


def test_irrelevant_retrieval_abstains_without_generating(make_pipeline) -> None:
    pipeline = make_pipeline("Anything [1].", min_relevance=0.99)
    answer = pipeline.ask(QUESTION)
    assert answer.abstained and answer.abstain_reason == NOTHING_RELEVANT
    assert pipeline.generator.prompts == []


def test_generator_abstention_is_reported(make_pipeline) -> None:
    answer = make_pipeline("The sources do not contain the answer.", extractive_fallback=False).ask(QUESTION)
    assert answer.abstained and answer.abstain_reason == GENERATOR_ABSTAINED


def test_a_sentence_cut_off_by_max_tokens_is_not_checked_or_shown(make_pipeline) -> None:
    text = "The depot holds four locomotives [1]. The depot holds four"
    cut = make_pipeline(text, max_tokens=len(text.split())).ask(QUESTION)
    assert [s.text for s in cut.sentences] == ["The depot holds four locomotives."] and not cut.removed
    # the same unpunctuated ending is kept when the generator stopped by itself
    whole = make_pipeline(text, max_tokens=256).ask(QUESTION)
    assert [s.text for s in whole.sentences] == ["The depot holds four locomotives.", "The depot holds four"]


def test_list_openers_and_degenerate_repetition_are_dropped(make_pipeline) -> None:
    text = "The depot holds four locomotives [1]. The depot the depot the depot the depot [1]. It also holds these:"
    answer = make_pipeline(text).ask(QUESTION)
    assert [s.text for s in answer.sentences] == ["The depot holds four locomotives."] and not answer.removed


def test_extractive_fallback_quotes_a_close_source_sentence(make_pipeline) -> None:
    pipeline = make_pipeline("The sources do not contain the answer.", extractive_min_similarity=0.5)
    answer = pipeline.ask("Which year was Beta station rebuilt after a fire?")
    assert answer.extractive and not answer.abstained
    assert answer.sentences[0].citations[0].quote == "It was rebuilt in 1921 after a fire."


def test_extractive_fallback_needs_the_questions_numbers(make_pipeline) -> None:
    pipeline = make_pipeline("The sources do not contain the answer.", extractive_min_similarity=0.5)
    answer = pipeline.ask("Was Beta station rebuilt in 1935 after a fire?")
    assert answer.abstained and not answer.extractive


def test_stream_events_come_in_order(make_pipeline) -> None:
    events = list(make_pipeline("The depot holds four locomotives [1].").ask_stream(QUESTION))
    stages = [payload for kind, payload in events if kind == "stage"]
    assert stages == ["retrieve", "context", "prompt", "generate", "verify"]
    events = [(kind, payload) for kind, payload in events if kind != "stage"]
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "passages" and kinds[-1] == "answer"
    assert set(kinds[1:-1]) == {"token"}
    assert "".join(payload for kind, payload in events if kind == "token").strip() == events[-1][1].raw_answer


def test_the_question_is_embedded_once_per_ask(make_pipeline, fake_embedder) -> None:
    question = "Which year was Beta station rebuilt after a fire?"
    pipeline = make_pipeline(
        "The sources do not contain the answer.",
        context="sentences",
        context_sentences=1,
        extractive_min_similarity=0.5,
    )
    answer = pipeline.ask(question)
    assert answer.extractive, "the extractive check ran, after retrieval and context selection"
    assert fake_embedder.texts.count(question) == 1
