"""The answering pipeline: retrieve -> select context -> compose (generate, verify, policy; or quote) -> Answer,
its parts passed in.

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
from rag.compose.base import Compose, Composition, Event, Job, closest
from rag.config import CompositionName, PolicyName, Settings, load_settings
from rag.generation.base import Generator, load_generator
from rag.generation.context import ContextSelector, load_context
from rag.index.embedding import Embedder
from rag.index.filters import Where, as_where
from rag.question import validate_question
from rag.records import Answer, Passage
from rag.retrieval.retriever import IndexRetriever, Retriever
from rag.verify.policies import Policy, render
from rag.verify.relevance import AnswerCheck
from rag.verify.scoring import SupportScorer, load_scorer, load_second_opinion
from rag.verify.verifier import Verifier

NOTHING_RELEVANT = "retrieval found no passage relevant enough to the question"
NO_ANSWER_TEXT = "The corpus does not say."

Filter = Where | list[str] | tuple[str, ...] | None  # a Where, or filter expressions like "path=docs/*.md"


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

    def check_question(self, question: str) -> str: ...

    def document(self, doc_id: str) -> dict[str, Any] | None: ...

    def index_stats(self) -> dict[str, Any]: ...

    def refreshed(self) -> Answerer: ...


@dataclass
class _Run:
    """Timings and intermediate results of one question as it moves through the stages; the question is
    embedded once, for retrieval, context selection and the answer check."""

    question: str
    policy: str
    vector: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    retrieved: list[Passage] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    stage: str | None = None
    started: float = 0.0

    def enter(self, stage: str | None) -> Iterator[Event]:
        """Close the running stage's timer and start the next (None: stop); announces the stage."""
        now = time.perf_counter()
        if self.stage is not None:
            self.timings[self.stage] = self.timings.get(self.stage, 0.0) + now - self.started
        self.stage, self.started = stage, now
        if stage is not None:
            yield "stage", stage


@dataclass(frozen=True)
class Pipeline:
    """One index, one embedder, one generator, one verifier and one answer check, shared by every question;
    `composition` names the strategy that makes the answer (rag.compose); `second_opinion`, a scorer that must
    also support each generated sentence."""

    retriever: Retriever
    context: ContextSelector
    generator: Generator
    verifier: Verifier
    answers: AnswerCheck
    settings: Settings
    policy: PolicyName = "filter"
    composition: CompositionName = "free"
    second_opinion: SupportScorer | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        """Every part built from `settings`; nothing heavy loads until `warm_up()` or the first question."""
        embedder = Embedder.from_settings(settings)
        return cls(
            retriever=IndexRetriever(settings.index, embedder, settings),
            context=load_context(settings.context, embedder, settings.context_sentences),
            generator=load_generator(settings),
            verifier=Verifier(load_scorer(settings), settings.support_threshold),
            answers=AnswerCheck(embedder.encode),
            settings=settings,
            policy=settings.policy,
            composition=settings.composition,
            second_opinion=load_second_opinion(settings),
        )

    @classmethod
    def from_index(cls, index: str | Path, **overrides: Any) -> Pipeline:
        return cls.from_settings(load_settings(index=Path(index), **overrides))

    def with_parts(self, **parts: Any) -> Pipeline:
        """This pipeline with some parts replaced (retriever, context, generator, verifier, answers, policy,
        composition, second_opinion)."""
        return replace(self, **parts)

    @property
    def embedder(self) -> Any:
        """The retriever's embedder, which context selection and the answer check share."""
        return self.retriever.embedder

    def warm_up(self) -> None:
        """Load every model this pipeline's composition uses, now rather than on the first question."""
        self.retriever.warm_up()
        self.answers.warm_up()
        if self.composition != "extractive":
            self.generator.warm_up()
            self.verifier.warm_up()
            if self.second_opinion is not None:
                self.second_opinion.warm_up()

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
        """Retrieve, compose, verify: a cited answer, or an abstention with its reason. `depth` passages are
        retrieved (default k) and the best k composed from; `Answer.retrieved` holds them all. Only passages
        that meet `where` are retrieved."""
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
        """Events as the answer is made: ("stage", name) as each stage starts (retrieve, context, prompt,
        generate, verify, select), ("passages", [Passage]), ("token", str)..., then ("answer", Answer)."""
        checked = self.check_question(question)
        where = as_where(where)
        policy_name = policy or self.policy
        apply_policy: Policy = registry.resolve("policy", policy_name)
        compose: Compose = registry.resolve("composition", self.composition)
        k = k or self.settings.top_k
        run = _Run(checked, policy_name, np.zeros(0))
        yield from run.enter("retrieve")
        run.vector = self.embedder.encode([checked])[0]
        run.retrieved = self.retriever.retrieve(
            run.question, k=max(k, depth or k), query_vector=run.vector, where=where
        )
        run.passages = run.retrieved[:k]
        if not run.passages or max(p.scores["dense"] for p in run.passages) < self.settings.min_relevance:
            yield "passages", run.passages
            job = self._job(run, apply_policy)
            composed = Composition(
                tuple(run.passages), abstain_reason=NOTHING_RELEVANT, closest=closest(job, run.passages)
            )
            yield from run.enter(None)
            yield "answer", self._answer(run, composed)
            return
        yield from run.enter("context")
        run.passages = self.context.select(run.question, run.passages, run.vector)
        for kind, payload in compose(self._job(run, apply_policy)):
            if kind == "stage":
                yield from run.enter(payload)
            elif kind == "composed":
                yield from run.enter(None)
                yield "answer", self._answer(run, payload)
            else:
                yield kind, payload

    def _job(self, run: _Run, policy: Policy) -> Job:
        return Job(
            question=run.question,
            vector=run.vector,
            passages=tuple(run.passages),
            generator=self.generator,
            verifier=self.verifier,
            answers=self.answers,
            policy=policy,
            settings=self.settings,
            second_opinion=self.second_opinion,
        )

    def _answer(self, run: _Run, composed: Composition) -> Answer:
        abstained = composed.abstain_reason is not None
        return Answer(
            question=run.question,
            answer=NO_ANSWER_TEXT if abstained else render(composed.sentences),
            abstained=abstained,
            abstain_reason=composed.abstain_reason,
            sentences=composed.sentences,
            passages=composed.passages,
            raw_answer=composed.raw,
            policy=run.policy,
            removed_sentences=composed.removed,
            extractive=composed.extractive,
            timings=dict(run.timings),
            composition=self.composition,
            closest=composed.closest,
            retrieved=tuple(run.retrieved),
            draft=composed.draft,
        )
