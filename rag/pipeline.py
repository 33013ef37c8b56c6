"""The answering pipeline: retrieve -> generate -> verify, with every model loaded once and reused.

from rag import Pipeline
answer = Pipeline.from_index("indexes/sample").ask("When did the railway open?")
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import InputError
from rag.records import Answer, Citation, Passage, Sentence, Verdict

NOTHING_RELEVANT = "retrieval found no passage relevant enough to the question"
GENERATOR_ABSTAINED = "the generator found no answer in the retrieved sources"
SENTENCE_ENDS = (".", "!", "?", '"', "'", ")")


def validate_question(question: str, max_chars: int) -> str:
    """The question stripped; InputError when it is empty or longer than `max_chars`."""
    question = question.strip()
    if not question:
        raise InputError("the question is empty")
    if len(question) > max_chars:
        raise InputError(
            f"the question has {len(question)} characters; the limit is {max_chars} (setting max_question_chars)"
        )
    return question


@dataclass
class _Run:
    """Timings and intermediate results of one question as it moves through the stages."""

    question: str
    timings: dict[str, float] = field(default_factory=dict)
    passages: list[Passage] = field(default_factory=list)

    def timed(self, stage: str, started: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - started


class Pipeline:
    """One index, one embedder, one generator and one verifier, shared by every question."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        return cls(settings)

    @classmethod
    def from_index(cls, index: str | Path, **overrides: Any) -> Pipeline:
        return cls(Settings().with_overrides(index=Path(index), **overrides))

    @cached_property
    def embedder(self) -> Any:
        from ingest.embedding import Embedder

        return Embedder.from_settings(self.settings)

    @cached_property
    def index(self) -> Any:
        from ingest.index import Index

        return Index.open(self.settings.index, embedder=self.settings.embedder, backend=self.settings.embedder_backend)

    @cached_property
    def retriever(self) -> Any:
        from rag.retrieval.retriever import Retriever

        return Retriever(self.index, self.embedder, self.settings)

    def check_question(self, question: str) -> str:
        return validate_question(question, self.settings.max_question_chars)

    def search(self, query: str, k: int | None = None, mode: str | None = None) -> list[Passage]:
        return self.retriever.retrieve(self.check_question(query), k=k, mode=mode)

    @cached_property
    def generator(self) -> Any:
        from rag.generation.base import load_generator

        return load_generator(self.settings)

    @cached_property
    def context(self) -> Any:
        from rag.generation.context import load_context

        return load_context(self.settings.context, self.embedder, self.settings.context_sentences)

    @cached_property
    def verifier(self) -> Any:
        from rag.verify.scoring import load_scorer
        from rag.verify.verifier import Verifier

        return Verifier(load_scorer(self.settings), self.settings.support_threshold)

    def warm_up(self) -> None:
        """Load every model now rather than on the first question."""
        _ = self.index, self.embedder.model, self.context, self.generator, self.verifier

    def ask(self, question: str, k: int | None = None, policy: str | None = None) -> Answer:
        """Retrieve, generate, verify: a cited answer, or an abstention with its reason."""
        answer: Answer | None = None
        for kind, payload in self.ask_stream(question, k=k, policy=policy):
            if kind == "answer":
                answer = payload
        assert answer is not None
        return answer

    def ask_stream(self, question: str, k: int | None = None, policy: str | None = None) -> Iterator[tuple[str, Any]]:
        """Events as the answer is made: ("passages", [Passage]), ("token", str)..., ("answer", Answer)."""
        from rag.generation.prompt import build_prompt

        run = _Run(self.check_question(question))
        policy_name = policy or self.settings.policy
        self._policy(policy_name)
        started = time.perf_counter()
        run.passages = self.retriever.retrieve(run.question, k=k)
        run.timed("retrieve", started)
        if not run.passages or max(p.scores["dense"] for p in run.passages) < self.settings.min_relevance:
            yield "passages", run.passages
            yield "answer", self._abstain(run, NOTHING_RELEVANT, "", policy_name)
            return
        started = time.perf_counter()
        run.passages = self.context.select(run.question, run.passages)
        run.timed("context", started)
        started = time.perf_counter()
        prompt, run.passages = build_prompt(run.question, run.passages, self.generator, self.settings.max_tokens)
        run.timed("prompt", started)
        yield "passages", run.passages
        started = time.perf_counter()
        pieces: list[str] = []
        for piece in self.generator.stream(prompt):
            pieces.append(piece)
            yield "token", piece
        run.timed("generate", started)
        yield "answer", self._verified(run, "".join(pieces).strip(), policy_name)

    def _policy(self, name: str) -> Any:
        from rag.verify.policies import POLICIES

        return POLICIES.get(name)

    def _verified(self, run: _Run, raw: str, policy_name: str) -> Answer:
        from rag.verify.citations import parse_citations
        from rag.verify.policies import render
        from rag.verify.verifier import is_abstention, is_fragment

        started = time.perf_counter()
        claims = [c for c in parse_citations(raw, len(run.passages)) if not is_abstention(c.text)]
        if claims and self._cut_off(raw) and not claims[-1].text.rstrip().endswith(SENTENCE_ENDS):
            claims.pop()  # the generator ran out of tokens mid-sentence: half a claim is not checked or shown
        claims = [c for c in claims if not is_fragment(c.text)]
        sentences = self.verifier.verify(claims, run.passages)
        outcome = self._policy(policy_name)(sentences)
        run.timed("verify", started)
        if outcome.abstain_reason is None:
            return Answer(
                question=run.question,
                answer=render(outcome.sentences),
                abstained=False,
                sentences=outcome.sentences,
                passages=tuple(run.passages),
                raw_answer=raw,
                policy=policy_name,
                removed_sentences=outcome.removed,
                timings=dict(run.timings),
            )
        reason = outcome.abstain_reason if claims else GENERATOR_ABSTAINED
        fallback = self._extractive(run, raw, policy_name) if self.settings.extractive_fallback else None
        return fallback or self._abstain(run, reason, raw, policy_name, outcome.sentences, outcome.removed)

    def _cut_off(self, raw: str) -> bool:
        """Whether generation stopped at max_tokens (the answer's tokens reach it) rather than by itself."""
        return self.generator.count_tokens(raw) >= self.settings.max_tokens - 1

    def _extractive(self, run: _Run, raw: str, policy_name: str) -> Answer | None:
        """A quoted answer when a source sentence answers the question closely enough to stand alone.

        The sentence must contain every number the question names: "tons carried in 1935" is not answered by
        a sentence about 1925, however similar the two are.
        """
        started = time.perf_counter()
        from rag.verify.heuristic import numbers

        asked = numbers(run.question)
        candidates = [
            (n, p, s)
            for n, p in enumerate(run.passages, start=1)
            for s in p.chunk.sentences
            if asked <= numbers(s.text)
        ]
        if not candidates:
            return None
        vectors = self.embedder.encode([run.question] + [s.text for _, _, s in candidates])
        similarity = vectors[1:] @ vectors[0]
        best = int(similarity.argmax())
        run.timed("extractive", started)
        if float(similarity[best]) < self.settings.extractive_min_similarity:
            return None
        n, passage, span = candidates[best]
        citation = Citation(
            n,
            passage.chunk.chunk_id,
            passage.chunk.doc_id,
            span.text,
            span.start,
            span.end,
            float(similarity[best]),
        )
        sentence = Sentence(span.text, Verdict("supported", float(similarity[best])), (citation,))
        return Answer(
            question=run.question,
            answer=f"{span.text} [{n}]",
            abstained=False,
            sentences=(sentence,),
            passages=tuple(run.passages),
            raw_answer=raw,
            policy=policy_name,
            extractive=True,
            timings=dict(run.timings),
        )

    @staticmethod
    def _abstain(
        run: _Run,
        reason: str,
        raw: str,
        policy_name: str,
        sentences: tuple[Sentence, ...] = (),
        removed: tuple[Sentence, ...] = (),
    ) -> Answer:
        return Answer(
            question=run.question,
            answer="The corpus does not say.",
            abstained=True,
            abstain_reason=reason,
            sentences=sentences,
            passages=tuple(run.passages),
            raw_answer=raw,
            policy=policy_name,
            removed_sentences=removed,
            timings=dict(run.timings),
        )
