"""What every composition strategy shares: the job it is given, the composition it returns, and the steps
after generation (verification, the answer policy, the check that the answer answers the question, the quoted
fallback and the abstention with the closest source sentences).

A strategy is a function `Job -> Iterator[Event]`: it yields ("passages", [Passage]) once it knows what the
generator reads, ("token", str) while generating, and finally ("composed", Composition).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.config import Settings
from rag.generation.base import Generator
from rag.records import Citation, Claim, Passage, Sentence, SentenceSpan, Verdict
from rag.verify.claims import checkable
from rag.verify.policies import Policy
from rag.verify.relevance import AnswerCheck, Candidate, blocking_reasons, names_in, repeats_part_of, sentences_of
from rag.verify.rules import normalised
from rag.verify.scoring import SupportScorer
from rag.verify.verifier import Verifier

Event = tuple[str, Any]
CLOSEST = 3
NOT_ANSWERED = "no sentence of the retrieved sources answers the question"
OFF_POINT = "the supported sentences do not answer the question"
GENERATOR_ABSTAINED = "the generator found no answer in the retrieved sources"


@dataclass(frozen=True)
class Job:
    """One question for a strategy: the question and its embedding, the passages, and the parts to use."""

    question: str
    vector: np.ndarray
    passages: tuple[Passage, ...]
    generator: Generator
    verifier: Verifier
    answers: AnswerCheck
    policy: Policy
    settings: Settings
    second_opinion: SupportScorer | None = None

    def generated_verifier(self) -> Verifier:
        """The verifier for generated sentences: at setting generated_support_threshold or the scorer's threshold,
        whichever is higher, with the second opinion (setting generated_second_opinion) and, with
        generated_exact_names, no name or number of their own."""
        settings = self.settings
        threshold = max(settings.generated_support_threshold or 0.0, self.verifier.threshold)
        if threshold == self.verifier.threshold and not settings.generated_exact_names and not self.second_opinion:
            return self.verifier
        return Verifier(
            self.verifier.scorer, threshold, exact_names=settings.generated_exact_names, second=self.second_opinion
        )


@dataclass(frozen=True)
class Composition:
    """What a strategy made: the sentences shown and withheld, why it abstains (None if it does not), the
    passages the sentences' [n] refer to, and the generator's own text split by the claim rules."""

    passages: tuple[Passage, ...]
    sentences: tuple[Sentence, ...] = ()
    removed: tuple[Sentence, ...] = ()
    abstain_reason: str | None = None
    raw: str = ""
    draft: tuple[Claim, ...] = ()
    extractive: bool = False
    closest: tuple[Citation, ...] = ()


Compose = Callable[[Job], Iterator[Event]]


def citation(candidate: Candidate, support: float) -> Citation:
    chunk, span = candidate.passage.chunk, candidate.span
    return Citation(candidate.n, chunk.chunk_id, chunk.doc_id, span.text, span.start, span.end, support)


def quoted(candidate: Candidate) -> Sentence:
    """A source sentence shown word for word: support 1.0, cited to its passage with its offsets."""
    return Sentence(candidate.span.text, Verdict("quoted", 1.0), (citation(candidate, 1.0),))


def closest(job: Job, passages: Sequence[Passage]) -> tuple[Citation, ...]:
    """The source sentences nearest to answering, best first (support = how likely each answers)."""
    found = job.answers.candidates(job.question, job.vector, passages)[:CLOSEST]
    return tuple(citation(c, c.probability) for c in found)


def extractive_answer(
    job: Job, passages: Sequence[Passage], raw: str = "", draft: tuple[Claim, ...] = ()
) -> Composition:
    """The best source sentence that answers the question, quoted; or an abstention naming the closest ones."""
    best = job.answers.best(job.question, job.vector, passages)
    if best is None:
        nearest = closest(job, passages)
        return Composition(tuple(passages), abstain_reason=NOT_ANSWERED, raw=raw, draft=draft, closest=nearest)
    return Composition(tuple(passages), (quoted(best),), raw=raw, draft=draft, extractive=True)


def answers_question(job: Job, passages: Sequence[Passage], sentences: Sequence[Sentence]) -> bool:
    """Whether some shown sentence can answer the question: it holds the question's numbers, names and the
    kind of thing asked for (rag.verify.relevance), and a sentence that only repeats a source sentence (which the
    verifier supports whatever was asked) also clears the answer check's score, as a quote does."""
    names = names_in(job.question)
    return any(
        not blocking_reasons(job.question, names, s.text, "") and clears_as_quote(job, passages, s) for s in sentences
    )


def clears_as_quote(job: Job, passages: Sequence[Passage], sentence: Sentence) -> bool:
    """False only for a sentence that says nothing beyond a source sentence (a copy of it, whole or in part,
    perhaps introduced as "The answer is: ...") when the answer check would quote no such source sentence as the
    answer. Asked what a general's associate was known as, a small generator answered "The answer to this question
    is: He was killed in a flying accident shortly thereafter.", part of a sentence about another officer."""
    repeated = [
        (n, span)
        for n, passage in enumerate(passages, start=1)
        for span in sentences_of(passage)
        if repeats_part_of(span.text, sentence.text)
    ]
    check = job.answers
    return not repeated or any(
        check.answers(check.judge(job.question, job.vector, n, passages[n - 1], span)) for n, span in repeated
    )


def source_sentence(
    text: str, passages: Sequence[Passage], same: Callable[[str], str] = normalised, first: int = 0
) -> tuple[int, SentenceSpan] | None:
    """(n, sentence) of the first source sentence that is `text` when both are read through `same` (by default
    letters and digits only), trying source `first` (1-based) before the others."""
    said = same(text)
    order = sorted(range(1, len(passages) + 1), key=lambda n: n != first)
    for n in order:
        for span in sentences_of(passages[n - 1]):
            if same(span.text) == said:
                return n, span
    return None


def verified(job: Job, passages: Sequence[Passage], raw: str, draft: tuple[Claim, ...]) -> Composition:
    """The generated claims verified and filtered by the policy; supported sentences that do not answer the
    question are withheld. When nothing usable is left, the quoted fallback (setting extractive_fallback) is
    tried before abstaining."""
    claims = checkable(draft)
    outcome = job.policy(job.generated_verifier().verify(claims, passages))
    supported = [s for s in outcome.sentences if s.supported]
    if outcome.abstain_reason is None and answers_question(job, passages, supported):
        return Composition(tuple(passages), outcome.sentences, outcome.removed, raw=raw, draft=draft)
    if outcome.abstain_reason is None:
        kept, removed, reason = (), outcome.sentences + outcome.removed, OFF_POINT
    else:
        kept, removed, reason = outcome.sentences, outcome.removed, outcome.abstain_reason
    if job.settings.extractive_fallback:
        fallback = extractive_answer(job, passages, raw, draft)
        if fallback.abstain_reason is None:
            return fallback
    reason = reason if claims else GENERATOR_ABSTAINED
    return Composition(tuple(passages), kept, removed, reason, raw, draft, closest=closest(job, passages))
