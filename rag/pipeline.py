"""The answering pipeline: retrieve -> select context -> generate -> verify -> policy, its parts passed in.

    pipeline = Pipeline.from_index("indexes/sample")   # parts built from Settings; models load at warm_up()
    answer = pipeline.ask("When did the railway open?")
    other = pipeline.with_parts(generator=my_generator)  # the same pipeline with one part swapped

`Answerer` is what the service and the evaluation need from a pipeline; `Pipeline` is the implementation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag import registry
from rag.config import PolicyName, Settings, load_settings
from rag.errors import InputError, QuestionTooLong
from rag.generation.base import Generator, load_generator
from rag.generation.context import ContextSelector, load_context
from rag.generation.prompt import build_prompt
from rag.index.embedding import Embedder
from rag.index.filters import Where, as_where
from rag.records import Answer, Citation, Claim, Passage, Sentence, Verdict
from rag.retrieval.retriever import IndexRetriever, Retriever
from rag.text import numbers
from rag.verify.claims import checkable, draft_claims
from rag.verify.policies import Policy, render
from rag.verify.scoring import load_scorer
from rag.verify.verifier import Verifier

NOTHING_RELEVANT = "retrieval found no passage relevant enough to the question"
GENERATOR_ABSTAINED = "the generator found no answer in the retrieved sources"
NO_ANSWER_TEXT = "The corpus does not say."

Event = tuple[str, Any]
Filter = Where | list[str] | tuple[str, ...] | None  # a Where, or filter expressions like "path=docs/*.md"


def validate_question(question: str, max_chars: int) -> str:
    """The question stripped; InputError when it is empty, QuestionTooLong when over `max_chars`."""
    question = question.strip()
    if not question:
        raise InputError("the question is empty")
    if len(question) > max_chars:
        raise QuestionTooLong(
            f"the question has {len(question)} characters; the limit is {max_chars} (setting max_question_chars)"
        )
    return question


class Answerer(Protocol):
    """What the service and the evaluation ask of a pipeline."""

    settings: Settings

    def warm_up(self) -> None: ...

    def search(
        self, query: str, k: int | None = None, mode: str | None = None, where: Filter = None
    ) -> list[Passage]: ...

    def ask(
        self,
        question: str,
        k: int | None = None,
        policy: str | None = None,
        depth: int | None = None,
        where: Filter = None,
    ) -> Answer: ...

    def ask_stream(
        self,
        question: str,
        k: int | None = None,
        policy: str | None = None,
        depth: int | None = None,
        where: Filter = None,
    ) -> Iterator[Event]: ...

    def document(self, doc_id: str) -> dict[str, Any] | None: ...

    def index_stats(self) -> dict[str, Any]: ...

    def refreshed(self) -> Answerer: ...


@dataclass
class _Run:
    """Timings and intermediate results of one question as it moves through the stages; the question is
    embedded once, for retrieval, context selection and the extractive check."""

    question: str
    policy: str
    vector: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    retrieved: list[Passage] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)

    def timed(self, stage: str, started: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - started


@dataclass(frozen=True)
class Pipeline:
    """One index, one embedder, one generator and one verifier, shared by every question."""

    retriever: Retriever
    context: ContextSelector
    generator: Generator
    verifier: Verifier
    settings: Settings
    policy: PolicyName = "filter"

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        """Every part built from `settings`; nothing heavy loads until `warm_up()` or the first question."""
        embedder = Embedder.from_settings(settings)
        return cls(
            retriever=IndexRetriever(settings.index, embedder, settings),
            context=load_context(settings.context, embedder, settings.context_sentences),
            generator=load_generator(settings),
            verifier=Verifier(load_scorer(settings), settings.support_threshold),
            settings=settings,
            policy=settings.policy,
        )

    @classmethod
    def from_index(cls, index: str | Path, **overrides: Any) -> Pipeline:
        return cls.from_settings(load_settings(index=Path(index), **overrides))

    def with_parts(self, **parts: Any) -> Pipeline:
        """This pipeline with some parts replaced (retriever, context, generator, verifier, policy)."""
        return replace(self, **parts)

    @property
    def embedder(self) -> Any:
        """The retriever's embedder, which context selection and the extractive check share."""
        return self.retriever.embedder

    def warm_up(self) -> None:
        """Load every model now rather than on the first question."""
        self.retriever.warm_up()
        self.generator.warm_up()
        self.verifier.warm_up()

    def refreshed(self) -> Pipeline:
        """This pipeline on the index's newest generation (itself when there is none newer)."""
        if not self.retriever.is_stale():
            return self
        return self.with_parts(retriever=self.retriever.reopened())

    def document(self, doc_id: str) -> dict[str, Any] | None:
        return self.retriever.document(doc_id)

    def index_stats(self) -> dict[str, Any]:
        return self.retriever.stats()

    def check_question(self, question: str) -> str:
        return validate_question(question, self.settings.max_question_chars)

    def search(self, query: str, k: int | None = None, mode: str | None = None, where: Filter = None) -> list[Passage]:
        return self.retriever.retrieve(self.check_question(query), k=k, mode=mode, where=as_where(where))

    def ask(
        self,
        question: str,
        k: int | None = None,
        policy: str | None = None,
        depth: int | None = None,
        where: Filter = None,
    ) -> Answer:
        """Retrieve, generate, verify: a cited answer, or an abstention with its reason. `depth` passages are
        retrieved (default k) and the best k given to the generator; `Answer.retrieved` holds them all. Only
        passages that meet `where` are retrieved."""
        answer: Answer | None = None
        for kind, payload in self.ask_stream(question, k=k, policy=policy, depth=depth, where=where):
            if kind == "answer":
                answer = payload
        assert answer is not None
        return answer

    def ask_stream(
        self,
        question: str,
        k: int | None = None,
        policy: str | None = None,
        depth: int | None = None,
        where: Filter = None,
    ) -> Iterator[Event]:
        """Events as the answer is made: ("passages", [Passage]), ("token", str)..., ("answer", Answer)."""
        checked = self.check_question(question)
        where = as_where(where)
        self._policy(policy or self.policy)
        k = k or self.settings.top_k
        started = time.perf_counter()
        run = _Run(checked, policy or self.policy, self.embedder.encode([checked])[0])
        run.retrieved = self.retriever.retrieve(
            run.question, k=max(k, depth or k), query_vector=run.vector, where=where
        )
        run.passages = run.retrieved[:k]
        run.timed("retrieve", started)
        if not run.passages or max(p.scores["dense"] for p in run.passages) < self.settings.min_relevance:
            yield "passages", run.passages
            yield "answer", self._abstain(run, NOTHING_RELEVANT, "")
            return
        started = time.perf_counter()
        run.passages = self.context.select(run.question, run.passages, run.vector)
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
        yield "answer", self._verified(run, "".join(pieces).strip())

    def _policy(self, name: str) -> Policy:
        return registry.resolve("policy", name)

    def _verified(self, run: _Run, raw: str) -> Answer:
        started = time.perf_counter()
        draft = draft_claims(raw, len(run.passages), cut_off=self._cut_off(raw))
        claims = checkable(draft)
        sentences = self.verifier.verify(claims, run.passages)
        outcome = self._policy(run.policy)(sentences)
        run.timed("verify", started)
        if outcome.abstain_reason is None:
            return self._answer(run, raw, draft, render(outcome.sentences), outcome.sentences, outcome.removed)
        reason = outcome.abstain_reason if claims else GENERATOR_ABSTAINED
        fallback = self._extractive(run, raw, draft) if self.settings.extractive_fallback else None
        return fallback or self._abstain(run, reason, raw, draft, outcome.sentences, outcome.removed)

    def _cut_off(self, raw: str) -> bool:
        """Whether generation stopped at max_tokens (the answer's tokens reach it) rather than by itself."""
        return self.generator.count_tokens(raw) >= self.settings.max_tokens - 1

    def _extractive(self, run: _Run, raw: str, draft: tuple[Claim, ...]) -> Answer | None:
        """A quoted answer when a source sentence answers the question closely enough to stand alone.

        The sentence must contain every number the question names: "tons carried in 1935" is not answered by
        a sentence about 1925, however similar the two are.
        """
        started = time.perf_counter()
        asked = numbers(run.question)
        candidates = [
            (n, p, s)
            for n, p in enumerate(run.passages, start=1)
            for s in p.chunk.sentences
            if asked <= numbers(s.text)
        ]
        if not candidates:
            return None
        similarity = self.embedder.encode([s.text for _, _, s in candidates]) @ run.vector
        best = int(similarity.argmax())
        run.timed("extractive", started)
        if float(similarity[best]) < self.settings.extractive_min_similarity:
            return None
        n, passage, span = candidates[best]
        support = float(similarity[best])
        citation = Citation(n, passage.chunk.chunk_id, passage.chunk.doc_id, span.text, span.start, span.end, support)
        sentence = Sentence(span.text, Verdict("supported", support), (citation,))
        return replace(
            self._answer(run, raw, draft, f"{span.text} [{n}]", (sentence,), ()),
            extractive=True,
        )

    @staticmethod
    def _answer(
        run: _Run,
        raw: str,
        draft: tuple[Claim, ...],
        text: str,
        sentences: tuple[Sentence, ...],
        removed: tuple[Sentence, ...],
        abstain_reason: str | None = None,
    ) -> Answer:
        return Answer(
            question=run.question,
            answer=text,
            abstained=abstain_reason is not None,
            abstain_reason=abstain_reason,
            sentences=sentences,
            passages=tuple(run.passages),
            raw_answer=raw,
            policy=run.policy,
            removed_sentences=removed,
            timings=dict(run.timings),
            retrieved=tuple(run.retrieved),
            draft=draft,
        )

    def _abstain(
        self,
        run: _Run,
        reason: str,
        raw: str,
        draft: tuple[Claim, ...] = (),
        sentences: tuple[Sentence, ...] = (),
        removed: tuple[Sentence, ...] = (),
    ) -> Answer:
        return self._answer(run, raw, draft, NO_ANSWER_TEXT, sentences, removed, reason)
