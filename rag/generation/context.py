"""Context selection: which part of each retrieved passage the generator reads (setting `context`).

    passages   every passage whole (the prompt then holds top_k full chunks)
    sentences  each passage cut to its `context_sentences` consecutive sentences most similar to the question
               (cosine with the embedder already loaded for retrieval)

On a CPU the generator's prompt reading dominates an answer's latency (about 150-180 prompt tokens/s for the
default 135M model on 2 cores), so a prompt of the relevant sentences answers several times sooner. The cut
passage is a contiguous slice of the chunk, so its text, offsets and sentences stay exact: the verifier checks
and quotes exactly what the generator read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from rag import registry
from rag.records import Passage


class ContextSelector(Protocol):
    """Maps a question (and its embedding) and its retrieved passages to the (possibly shortened) passages the
    prompt shows."""

    def select(self, question: str, passages: Sequence[Passage], question_vector: np.ndarray) -> list[Passage]: ...


class WholePassages:
    def __init__(self, embedder: Any = None, sentences: int = 0) -> None:
        pass

    def select(self, question: str, passages: Sequence[Passage], question_vector: np.ndarray) -> list[Passage]:
        return list(passages)


def best_window(scores: np.ndarray, size: int) -> tuple[int, int]:
    """[start, end) of the `size` consecutive items with the highest total score (earliest on ties)."""
    if len(scores) <= size:
        return 0, len(scores)
    totals = np.convolve(scores, np.ones(size), mode="valid")
    start = int(totals.argmax())
    return start, start + size


def sentence_window(passage: Passage, start: int, end: int) -> Passage:
    """The passage cut to its sentences [start, end): text, offsets and sentences stay consistent."""
    chunk = passage.chunk
    kept = chunk.sentences[start:end]
    text = chunk.text[kept[0].start - chunk.start : kept[-1].end - chunk.start]
    cut = replace(chunk, text=text, start=kept[0].start, end=kept[-1].end, sentences=kept)
    return replace(passage, chunk=cut)


class RelevantSentences:
    """Each passage cut to the window of `sentences` consecutive sentences most similar to the question."""

    def __init__(self, embedder: Any, sentences: int = 3) -> None:
        self.embedder = embedder
        self.size = sentences

    def select(self, question: str, passages: Sequence[Passage], question_vector: np.ndarray) -> list[Passage]:
        long = [p for p in passages if len(p.chunk.sentences) > self.size]
        if not long:
            return list(passages)
        similarity = self.embedder.encode([s.text for p in long for s in p.chunk.sentences]) @ question_vector
        windows: dict[int, Passage] = {}
        offset = 0
        for passage in long:
            count = len(passage.chunk.sentences)
            start, end = best_window(similarity[offset : offset + count], self.size)
            windows[id(passage)] = sentence_window(passage, start, end)
            offset += count
        return [windows.get(id(p), p) for p in passages]


def load_context(name: str, embedder: Any, sentences: int) -> ContextSelector:
    """The context selector named by setting `context`."""
    return registry.create("context", name, embedder, sentences)
