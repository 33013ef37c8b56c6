"""Verification: check every answer sentence against the passages it cites, then against the other retrieved ones.

A sentence whose own citations support it is kept with them (the other passages are then not read: they could
not change the verdict); one that another retrieved passage supports is re-cited to that passage; one that
nothing supports is marked unsupported. Each citation carries the best
supporting quote: the source sentence, its document id and its character offsets in the document. The scorer
chooses it among the QUOTE_CANDIDATES sentences of the passage sharing most content words with the sentence: on
249 CLAPNQ answer sentences against their gold passages (231 with more than 4 sentences) that picks the quote
that scoring every sentence picks 99.6% of the time (3 candidates; 98.0% with 2, 100% with 4), and it cuts the
p50 time to verify a 3-sentence answer against 5 passages of about 200 words from 449 to 313 ms (`make
bench-verifier`, both in one run, 2 cores). A sentence that copies one of the candidates word for word (as the
extractive composition's do) quotes it without scoring, with the copy rule's support (COPY_SUPPORT) whatever the
scorer. (The scorers still run their model on a copied pair in the support batch, whose score the copy rule
then overrules: the int8 model quantises per batch, so leaving such pairs out would move their neighbours'
scores, and on the judged generator sentences that passed one more invented sentence.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.records import Citation, Claim, Passage, Sentence, SentenceSpan, Verdict
from rag.text import content_stems, most_shared
from rag.verify.contradiction import CONFLICT_CAP, unstated
from rag.verify.relevance import sentences_of
from rag.verify.rules import COPY_SUPPORT, repeats_sentence
from rag.verify.scoring import SupportScorer

MAX_RECITED = 2
QUOTE_CANDIDATES = 3
# the support of a passage sharing no content word with the sentence, given without scoring: on the dev, held-out
# and train splits of HaluEval and the synthetic claims, and CLAPNQ's gold answers against their passages, every
# such pair scores below 0.3 (the trained scorer's threshold is 0.386), and half the pairs of an answer's
# sentences against passages they do not cite are like that
NOTHING_SHARED = 0.0


@dataclass(frozen=True, slots=True)
class _Evidence:
    """Support of one sentence by each retrieved passage (index i is passage number i + 1); None where the passage
    was not read because the sentence's own citations support it."""

    by_passage: tuple[float | None, ...]

    def support(self, n: int) -> float:
        score = self.by_passage[n - 1]
        return -1.0 if score is None else score

    def supporting(self, numbers: Sequence[int], threshold: float) -> list[int]:
        return [n for n in numbers if self.support(n) >= threshold]

    def best_others(self, cited: Sequence[int], threshold: float) -> list[int]:
        ranked = sorted(range(1, len(self.by_passage) + 1), key=lambda n: -self.support(n))
        return [n for n in ranked if n not in cited and self.support(n) >= threshold][:MAX_RECITED]

    def best(self) -> float:
        return max((s for s in self.by_passage if s is not None), default=0.0)


class Verifier:
    """Scores sentences against passages with a SupportScorer and decides their citations. The stricter standards
    for generated sentences: with `exact_names`, a passage supports a sentence only if it (with its title and
    heading) mentions every name and number the sentence gives (rag.verify.contradiction.unstated); with a
    `second` scorer, only if that scorer also finds the passage supports it at its own threshold (a pair it
    doubts keeps the lower of the two scores)."""

    def __init__(
        self,
        scorer: SupportScorer,
        threshold: float | None = None,
        exact_names: bool = False,
        second: SupportScorer | None = None,
        quote_candidates: int = QUOTE_CANDIDATES,
    ) -> None:
        self.scorer = scorer
        self.threshold = scorer.threshold if threshold is None else threshold
        self.exact_names = exact_names
        self.second = second
        self.quote_candidates = quote_candidates

    def warm_up(self) -> None:
        self.scorer.warm_up()
        if self.second is not None:
            self.second.warm_up()

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
        """Each sentence scored against its cited passages in one batch, then, in a second batch, the sentences
        none of them supports against every other passage."""
        width = len(passages)
        cited = [sorted({n for n in s.citations if 1 <= n <= width}) for s in sentences]
        scores: list[list[float | None]] = [[None] * width for _ in sentences]
        self._score_into(scores, [(i, n) for i, numbers in enumerate(cited) for n in numbers], sentences, passages)
        unsettled = [
            i for i, numbers in enumerate(cited) if not _Evidence(tuple(scores[i])).supporting(numbers, self.threshold)
        ]
        others = [(i, n) for i in unsettled for n in range(1, width + 1) if n not in cited[i]]
        self._score_into(scores, others, sentences, passages)
        return [_Evidence(tuple(row)) for row in scores]

    def _score_into(
        self,
        scores: list[list[float | None]],
        wanted: Sequence[tuple[int, int]],
        sentences: Sequence[Claim],
        passages: Sequence[Passage],
    ) -> None:
        """Score each (sentence index, passage number) in `wanted` in one batch into scores[i][n - 1]. A passage
        that shares no content word with the sentence gets NOTHING_SHARED without being scored, and with
        exact_names, one that does not mention all of the sentence's names and numbers gets CONFLICT_CAP (their
        support could be no higher); with a second scorer, the pairs that reach the threshold are scored again by
        it (one more batch)."""
        claim_words = {i: content_stems(sentences[i].text) for i, _ in wanted}
        passage_words = {n: content_stems(passages[n - 1].chunk.text) for _, n in wanted}
        for i, n in wanted:
            if not claim_words[i] & passage_words[n]:
                scores[i][n - 1] = NOTHING_SHARED
            elif self.exact_names and unstated(sentences[i].text, _source(passages[n - 1])):
                scores[i][n - 1] = CONFLICT_CAP
        wanted = [(i, n) for i, n in wanted if scores[i][n - 1] is None]
        if not wanted:
            return
        pairs = [(passages[n - 1].chunk.text, sentences[i].text) for i, n in wanted]
        values = self.scorer.score_batch(pairs)
        if self.second is not None:
            values = second_opinion(pairs, values, self.threshold, self.second)
        for (i, n), value in zip(wanted, values, strict=True):
            scores[i][n - 1] = value

    def _judge(self, sentence: Claim, evidence: _Evidence) -> tuple[Verdict, list[int]]:
        own = evidence.supporting(sentence.citations, self.threshold)
        if own:
            return Verdict("supported", max(evidence.support(n) for n in own)), own
        others = evidence.best_others(sentence.citations, self.threshold)
        if others:
            return Verdict("recited", evidence.support(others[0])), others
        return Verdict("unsupported", evidence.best()), []

    def _quotes(self, claims: Sequence[tuple[str, Sequence[int]]], passages: Sequence[Passage]) -> list[list[Citation]]:
        """For each (claim, cited numbers): a Citation per number quoting the best source sentence."""
        pairs: list[tuple[str, str]] = []
        spans: list[tuple[int, int, SentenceSpan]] = []
        best: dict[tuple[int, int], tuple[float, SentenceSpan]] = {}
        for claim_index, (claim, numbers) in enumerate(claims):
            for n in numbers:
                found = _quote_candidates(passages[n - 1], claim, self.quote_candidates)
                copied = [span for span in found if repeats_sentence(span.text, claim)]
                if copied:  # the sentence it copies is its quote: the others are not scored
                    best[(claim_index, n)] = (COPY_SUPPORT, copied[0])
                    continue
                pairs += [(span.text, claim) for span in found]
                spans += [(claim_index, n, span) for span in found]
        scores = self.scorer.score_batch(pairs) if pairs else []
        for (claim_index, n, span), score in zip(spans, scores, strict=True):
            if (claim_index, n) not in best or score > best[(claim_index, n)][0]:
                best[(claim_index, n)] = (score, span)
        return [
            [_citation(n, passages[n - 1], *best[(i, n)]) for n in numbers if (i, n) in best]
            for i, (_, numbers) in enumerate(claims)
        ]


def second_opinion(
    pairs: Sequence[tuple[str, str]], values: Sequence[float], threshold: float, second: SupportScorer
) -> list[float]:
    """`values` (the first scorer's, for `pairs`) with each pair that reaches `threshold` but that `second` finds
    below its own threshold lowered to the second's score; only the passing pairs are scored again."""
    result = list(values)
    passing = [k for k, value in enumerate(result) if value >= threshold]
    if not passing:
        return result
    for k, doubt in zip(passing, second.score_batch([pairs[k] for k in passing]), strict=True):
        if doubt < second.threshold:
            result[k] = min(result[k], doubt)
    return result


def _source(passage: Passage) -> str:
    """The passage with its title and heading: where a generated sentence's names and numbers must appear."""
    chunk = passage.chunk
    return " ".join((chunk.title, *chunk.heading, chunk.text))


def _quote_candidates(passage: Passage, claim: str, count: int) -> list[SentenceSpan]:
    """The `count` sentences of the passage sharing most content words with the claim, in passage order."""
    found = sentences_of(passage)
    return [found[i] for i in most_shared([span.text for span in found], claim, count)]


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
