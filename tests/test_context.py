"""Context selection: passages cut to the sentences most relevant to the question, with exact offsets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rag import registry
from rag.errors import UnknownNameError
from rag.generation.context import best_window, load_context
from rag.records import Passage
from tests.test_prompt import make_passage

SENTENCES = [
    "The railway was founded by mill owners.",
    "Its first engine came from Leeds.",
    "The viaduct at Coldridge has nine stone arches.",
    "Each arch spans twelve metres over the river.",
    "Tickets are sold at every station.",
    "Dogs travel free on all trains.",
]
DOCUMENT = "Preface. " * 20 + " ".join(SENTENCES) + " Afterword."
START = DOCUMENT.index(SENTENCES[0])


def select(selector: Any, question: str, passages: list[Passage], embedder: Any) -> list[Passage]:
    """The selector's choice, given the question embedded as the pipeline embeds it (once, for every stage)."""
    return selector.select(question, passages, embedder.encode([question])[0])


def test_best_window_maximises_the_total_score() -> None:
    assert best_window(np.array([0.1, 0.9, 0.8, 0.1, 0.95]), 2) == (1, 3)
    assert best_window(np.array([0.5, 0.5, 0.5]), 2) == (0, 2)  # earliest on ties
    assert best_window(np.array([0.2, 0.3]), 3) == (0, 2)


def test_sentences_context_keeps_the_relevant_window_with_exact_offsets(fake_embedder) -> None:
    passage = make_passage(SENTENCES, doc_start=START)
    selector = load_context("sentences", fake_embedder, 2)
    (cut,) = select(selector, "How many arches does the Coldridge viaduct have?", [passage], fake_embedder)
    assert [s.text for s in cut.chunk.sentences] == SENTENCES[2:4]
    assert cut.chunk.text == DOCUMENT[cut.chunk.start : cut.chunk.end]
    assert all(DOCUMENT[s.start : s.end] == s.text for s in cut.chunk.sentences)
    assert (cut.rank, cut.score, cut.chunk.chunk_id) == (passage.rank, passage.score, passage.chunk.chunk_id)
    assert passage.chunk.text == " ".join(SENTENCES)  # the input passage is not modified


def test_short_passages_and_the_whole_passage_context_are_unchanged(fake_embedder) -> None:
    short = make_passage(SENTENCES[:2], rank=2)
    assert select(load_context("sentences", fake_embedder, 3), "Who founded it?", [short], fake_embedder) == [short]
    whole = make_passage(SENTENCES)
    assert select(load_context("passages", fake_embedder, 2), "arches?", [whole, short], fake_embedder) == [
        whole,
        short,
    ]


def test_order_of_passages_is_kept(fake_embedder) -> None:
    passages = [make_passage(SENTENCES, rank=1), make_passage(SENTENCES[:1], rank=2), make_passage(SENTENCES, rank=3)]
    selected = select(load_context("sentences", fake_embedder, 1), "Dogs on trains", passages, fake_embedder)
    assert [p.rank for p in selected] == [1, 2, 3]
    assert [p.chunk.text for p in selected] == [SENTENCES[5], SENTENCES[0], SENTENCES[5]]


def test_unknown_context_lists_the_valid_ones(fake_embedder) -> None:
    with pytest.raises(UnknownNameError, match="passages, sentences"):
        load_context("paragraphs", fake_embedder, 2)
    assert registry.names("context") == ["passages", "sentences"]
