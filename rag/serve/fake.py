"""A model-free stand-in for `rag.pipeline.Pipeline`: canned documents, word-overlap search, scripted answers.

It returns real `rag.records` objects, so the HTTP service, the web page, the tests and the load benchmark
(`bench/serve_load.py --fake`) exercise the exact JSON contract without loading any model.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rag.config import Settings
from rag.errors import UnknownNameError
from rag.pipeline import validate_question
from rag.records import Answer, Chunk, Citation, Passage, Sentence, SentenceSpan, Verdict

DOCUMENTS: dict[str, tuple[str, str]] = {
    "history/founding.md": (
        "Founding of the railway",
        "The Harbor Valley Railway opened in 1894. It ran for 12 kilometres along the coast. "
        "Steam services ended in 1962 when the line closed.",
    ),
    "operations/timetable.txt": (
        "Timetable",
        "Trains run every Saturday from April to October. The first train leaves Harbor station at 10:15. "
        "Tickets can be bought on board.",
    ),
    "people/volunteers.txt": (
        "Volunteers",
        "Twelve volunteers maintain the locomotives. The preservation society was founded in 1971.",
    ),
}
UNSUPPORTED_CLAIM = "It was also the first railway in the country to run at night."
NOTHING_RELEVANT = "retrieval found no passage relevant enough to the question"
MODES = ("dense", "bm25", "hybrid")


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if len(w) > 2}


def _chunk(chunk_id: int, doc_id: str, title: str, text: str) -> Chunk:
    spans = tuple(SentenceSpan(m.group(0), m.start(), m.end()) for m in re.finditer(r"[^.\s][^.]*\.", text))
    return Chunk(chunk_id, doc_id, 0, text, 0, len(text), title=title, source=doc_id, sentences=spans)


class FakeStore:
    """The slice of `ingest.store.ChunkStore` the service reads: documents and counts."""

    def __init__(self, chunks: Mapping[str, Chunk]) -> None:
        self.chunks = chunks

    def document(self, doc_id: str) -> dict[str, Any] | None:
        chunk = self.chunks.get(doc_id)
        if chunk is None:
            return None
        return {"doc_id": doc_id, "source": chunk.source, "title": chunk.title, "metadata": {}, "text": chunk.text}

    def counts(self) -> dict[str, int]:
        return {"documents": len(self.chunks), "chunks": len(self.chunks)}


@dataclass
class FakeIndex:
    """The slice of `ingest.index.Index` the service reads."""

    store: FakeStore
    manifest: dict[str, Any] = field(default_factory=lambda: {"embedder": "fake", "generation": 1})
    generation: str = "gen-000001"

    def is_stale(self) -> bool:
        return False


class FakePipeline:
    """Duck-typed Pipeline: `search`, `ask`, `ask_stream`, `warm_up`, `index`, `settings`.

    Every answer cites the best-matching source sentence and adds one unsupported claim that the answer
    policy then removes (filter), marks (annotate) or turns into an abstention (strict). `delay_s` is
    slept per token and per search, to make it slow on purpose.
    """

    def __init__(self, settings: Settings | None = None, delay_s: float = 0.0) -> None:
        self.settings = settings or Settings()
        self.delay_s = delay_s
        chunks = {doc_id: _chunk(n, doc_id, title, text) for n, (doc_id, (title, text)) in enumerate(DOCUMENTS.items())}
        self.index = FakeIndex(FakeStore(chunks))
        self.warmed = False

    def warm_up(self) -> None:
        self.warmed = True

    def check_question(self, question: str) -> str:
        return validate_question(question, self.settings.max_question_chars)

    def search(self, query: str, k: int | None = None, mode: str | None = None) -> list[Passage]:
        words = _words(self.check_question(query))
        if mode is not None and mode not in MODES:
            raise UnknownNameError(f"unknown retrieval mode {mode!r}; valid: {', '.join(MODES)}")
        time.sleep(self.delay_s)
        scored = [(len(words & _words(c.text)) / (len(words) or 1), c) for c in self.index.store.chunks.values()]
        ranked = sorted(((s, c) for s, c in scored if s > 0), key=lambda sc: -sc[0])[: k or self.settings.top_k]
        return [Passage(c, s, rank, {"dense": s}) for rank, (s, c) in enumerate(ranked, start=1)]

    def ask(self, question: str, k: int | None = None, policy: str | None = None) -> Answer:
        answer = None
        for kind, payload in self.ask_stream(question, k, policy):
            if kind == "answer":
                answer = payload
        assert answer is not None
        return answer

    def ask_stream(self, question: str, k: int | None = None, policy: str | None = None) -> Iterator[tuple[str, Any]]:
        from rag.verify.policies import POLICIES

        question = self.check_question(question)
        apply_policy = POLICIES.get(policy or self.settings.policy)
        passages = self.search(question, k)
        yield "passages", passages
        if not passages:
            yield "answer", self._abstain(question, passages, NOTHING_RELEVANT, "", policy)
            return
        sentences = self._sentences(question, passages[0])
        raw = " ".join(f"{s.text} [1]" for s in sentences)
        for token in re.findall(r"\S+\s*", raw):
            time.sleep(self.delay_s)
            yield "token", token
        outcome = apply_policy(sentences)
        if outcome.abstain_reason is not None:
            yield "answer", self._abstain(question, passages, outcome.abstain_reason, raw, policy, outcome.removed)
            return
        yield "answer", self._answer(question, passages, outcome, raw, policy)

    def _sentences(self, question: str, passage: Passage) -> tuple[Sentence, ...]:
        words = _words(question)
        span = max(passage.chunk.sentences, key=lambda s: len(words & _words(s.text)))
        citation = Citation(1, passage.chunk.chunk_id, passage.chunk.doc_id, span.text, span.start, span.end, 0.93)
        return (
            Sentence(span.text, Verdict("supported", 0.93), (citation,), (1,)),
            Sentence(UNSUPPORTED_CLAIM, Verdict("unsupported", 0.04), (), (1,)),
        )

    def _answer(self, question: str, passages: list[Passage], outcome: Any, raw: str, policy: str | None) -> Answer:
        from rag.verify.policies import render

        return Answer(
            question=question,
            answer=render(outcome.sentences),
            abstained=False,
            sentences=outcome.sentences,
            passages=tuple(passages),
            raw_answer=raw,
            policy=policy or self.settings.policy,
            removed_sentences=outcome.removed,
            timings={"retrieve": 0.001, "generate": 0.002, "verify": 0.001},
        )

    def _abstain(
        self,
        question: str,
        passages: list[Passage],
        reason: str,
        raw: str,
        policy: str | None,
        removed: tuple[Sentence, ...] = (),
    ) -> Answer:
        return Answer(
            question=question,
            answer="The corpus does not say.",
            abstained=True,
            abstain_reason=reason,
            passages=tuple(passages),
            raw_answer=raw,
            policy=policy or self.settings.policy,
            removed_sentences=removed,
        )
