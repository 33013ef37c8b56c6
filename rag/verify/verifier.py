"""Verification: check every answer sentence against the passages it cites and against all retrieved ones.

A sentence whose own citations support it is kept with them; one that another retrieved passage supports is
re-cited to that passage; one that nothing supports is marked unsupported. Each citation carries the best
supporting quote: the source sentence, its document id and its character offsets in the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.records import Citation, Claim, Passage, Sentence, SentenceSpan, Verdict
from rag.verify.contradiction import CONFLICT_CAP, unstated
from rag.verify.scoring import SupportScorer

MAX_RECITED = 2


@dataclass(frozen=True, slots=True)
class _Evidence:
    """Support of one sentence by each retrieved passage (index i is passage number i + 1)."""

    by_passage: tuple[float, ...]

    def supporting(self, numbers: Sequence[int], threshold: float) -> list[int]:
        return [n for n in numbers if self.by_passage[n - 1] >= threshold]

    def best_others(self, cited: Sequence[int], threshold: float) -> list[int]:
        ranked = sorted(range(1, len(self.by_passage) + 1), key=lambda n: -self.by_passage[n - 1])
        return [n for n in ranked if n not in cited and self.by_passage[n - 1] >= threshold][:MAX_RECITED]


class Verifier:
    """Scores sentences against passages with a SupportScorer and decides their citations. With `exact_names`, a
    passage supports a sentence only if it (with its title and heading) mentions every name and number the
    sentence gives (rag.verify.contradiction.unstated): the stricter standard for generated sentences."""

    def __init__(self, scorer: SupportScorer, threshold: float | None = None, exact_names: bool = False) -> None:
        self.scorer = scorer
        self.threshold = scorer.threshold if threshold is None else threshold
        self.exact_names = exact_names

    def warm_up(self) -> None:
        self.scorer.warm_up()

    def verify(self, sentences: Sequence[Claim], passages: Sequence[Passage]) -> list[Sentence]:
        """A verdict and verified citations for every sentence (none dropped here: policies decide)."""
        if not sentences:
            return []
        evidence = self._evidence(sentences, passages)
        verdicts = [self._judge(s, e) for s, e in zip(sentences, evidence, strict=True)]
        quotes = self._quotes(
            [(s.text, numbers) for s, (_, numbers) in zip(sentences, verdicts, strict=True)], passages
        )
        return [
            Sentence(
                text=s.text,
                verdict=verdict,
                citations=tuple(cites),
                generator_citations=s.citations,
                support_by_passage=e.by_passage,
            )
            for s, (verdict, _), cites, e in zip(sentences, verdicts, quotes, evidence, strict=True)
        ]

    def _evidence(self, sentences: Sequence[Claim], passages: Sequence[Passage]) -> list[_Evidence]:
        pairs = [(p.chunk.text, s.text) for s in sentences for p in passages]
        scores = self.scorer.score_batch(pairs) if pairs else []
        if self.exact_names:
            sources = [" ".join((p.chunk.title, *p.chunk.heading, p.chunk.text)) for p in passages]
            claims = [s.text for s in sentences for _ in passages]
            scores = [
                min(score, CONFLICT_CAP) if unstated(claim, sources[i % len(passages)]) else score
                for i, (claim, score) in enumerate(zip(claims, scores, strict=True))
            ]
        width = len(passages)
        return [_Evidence(tuple(scores[i * width : (i + 1) * width])) for i in range(len(sentences))]

    def _judge(self, sentence: Claim, evidence: _Evidence) -> tuple[Verdict, list[int]]:
        own = evidence.supporting(sentence.citations, self.threshold)
        if own:
            return Verdict("supported", max(evidence.by_passage[n - 1] for n in own)), own
        others = evidence.best_others(sentence.citations, self.threshold)
        if others:
            return Verdict("recited", evidence.by_passage[others[0] - 1]), others
        return Verdict("unsupported", max(evidence.by_passage, default=0.0)), []

    def _quotes(self, claims: Sequence[tuple[str, Sequence[int]]], passages: Sequence[Passage]) -> list[list[Citation]]:
        """For each (claim, cited numbers): a Citation per number quoting the best source sentence."""
        pairs: list[tuple[str, str]] = []
        spans: list[tuple[int, int, SentenceSpan]] = []
        for claim_index, (claim, numbers) in enumerate(claims):
            for n in numbers:
                for span in _sentences_of(passages[n - 1]):
                    pairs.append((span.text, claim))
                    spans.append((claim_index, n, span))
        scores = self.scorer.score_batch(pairs) if pairs else []
        best: dict[tuple[int, int], tuple[float, SentenceSpan]] = {}
        for (claim_index, n, span), score in zip(spans, scores, strict=True):
            if (claim_index, n) not in best or score > best[(claim_index, n)][0]:
                best[(claim_index, n)] = (score, span)
        return [
            [_citation(n, passages[n - 1], *best[(i, n)]) for n in numbers if (i, n) in best]
            for i, (_, numbers) in enumerate(claims)
        ]


def _sentences_of(passage: Passage) -> tuple[SentenceSpan, ...]:
    chunk = passage.chunk
    return chunk.sentences or (SentenceSpan(chunk.text, chunk.start, chunk.end),)


def _citation(n: int, passage: Passage, score: float, span: SentenceSpan) -> Citation:
    return Citation(
        n=n,
        chunk_id=passage.chunk.chunk_id,
        doc_id=passage.chunk.doc_id,
        quote=span.text,
        start=span.start,
        end=span.end,
        support=score,
    )
