"""Verification: check every answer sentence against the passages it cites and against all retrieved ones.

A sentence whose own citations support it is kept with them; one that another retrieved passage supports is
re-cited to that passage; one that nothing supports is marked unsupported. Each citation carries the best
supporting quote: the source sentence, its document id and its character offsets in the document.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from rag.records import Citation, Passage, Sentence, SentenceSpan, Verdict
from rag.verify.citations import CitedSentence
from rag.verify.heuristic import STOPWORDS, WORD
from rag.verify.scoring import SupportScorer

MAX_RECITED = 2
ABSTENTION_PATTERN = re.compile(
    r"\b(sources?|context|passages?|documents?|corpus)\b[^.]*\b(do(es)?\s+not|don't|doesn't|cannot|can't)\s+"
    r"(contain|say|mention|provide|include|answer|state)|\bno (information|answer)\b|\bI (do not|don't) know\b",
    re.IGNORECASE,
)


def is_abstention(text: str) -> bool:
    """True for a sentence in which the generator says the sources lack the answer."""
    return bool(ABSTENTION_PATTERN.search(text))


# degenerate output: a phrase of n words said at least k times, for each (n, k)
REPEATED_PHRASES = ((3, 3), (5, 2))
# the same two content words in a row said this often, making up this share of the sentence's words: "The fire
# drill is a Chinese fire drill that involves a fire drill" (a tautology that echoes the passage's words, which
# scorers tend to pass); a long sentence that names its subject three times is not one
REPEATED_TERM = 3
REPEATED_TERM_SHARE = 0.3
# fewer words than this, list markers aside, state nothing checkable: "1.", "3. The Monk", a bare name
MIN_CLAIM_WORDS = 3
LIST_MARKER = re.compile(r"^\s*(\d+[.)]|[-*\u2022])\s*")


def repeats_itself(text: str) -> bool:
    """ "the rights to the rights to the rights to ..." or "X are shown in the theater, and X are shown in the
    theater": a phrase of 3 words said 3 times, or of 5 words said twice."""
    words = text.lower().replace(",", " ").split()
    for size, times in REPEATED_PHRASES:
        phrases = Counter(tuple(words[i : i + size]) for i in range(len(words) - size + 1))
        if phrases and max(phrases.values()) >= times:
            return True
    return False


def repeats_a_term(text: str) -> bool:
    """Two content words in a row (a term such as "fire drill") said REPEATED_TERM times or more, and together
    at least REPEATED_TERM_SHARE of the words."""
    words = [w.lower().removesuffix("'s") for w in WORD.findall(text)]
    terms = Counter((a, b) for a, b in pairwise(words) if a not in STOPWORDS and b not in STOPWORDS)
    said = max(terms.values(), default=0)
    return said >= REPEATED_TERM and 2 * said >= REPEATED_TERM_SHARE * len(words)


def too_short(text: str) -> bool:
    return len(WORD.findall(LIST_MARKER.sub("", text))) < MIN_CLAIM_WORDS


def is_fragment(text: str) -> bool:
    """True for a sentence that states nothing checkable: it introduces a list that never came (ends in ":"),
    is a bare list item or name, or is degenerate repetition."""
    return text.rstrip().endswith(":") or too_short(text) or repeats_itself(text) or repeats_a_term(text)


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
    """Scores sentences against passages with a SupportScorer and decides their citations."""

    def __init__(self, scorer: SupportScorer, threshold: float | None = None) -> None:
        self.scorer = scorer
        self.threshold = scorer.threshold if threshold is None else threshold

    def verify(self, sentences: Sequence[CitedSentence], passages: Sequence[Passage]) -> list[Sentence]:
        """A verdict and verified citations for every sentence (none dropped here: policies decide)."""
        if not sentences:
            return []
        evidence = self._evidence(sentences, passages)
        verdicts = [self._judge(s, e) for s, e in zip(sentences, evidence, strict=True)]
        quotes = self._quotes(
            [(s.text, numbers) for s, (_, numbers) in zip(sentences, verdicts, strict=True)], passages
        )
        return [
            Sentence(text=s.text, verdict=verdict, citations=tuple(cites), generator_citations=s.citations)
            for s, (verdict, _), cites in zip(sentences, verdicts, quotes, strict=True)
        ]

    def _evidence(self, sentences: Sequence[CitedSentence], passages: Sequence[Passage]) -> list[_Evidence]:
        pairs = [(p.chunk.text, s.text) for s in sentences for p in passages]
        scores = self.scorer.score_batch(pairs) if pairs else []
        width = len(passages)
        return [_Evidence(tuple(scores[i * width : (i + 1) * width])) for i in range(len(sentences))]

    def _judge(self, sentence: CitedSentence, evidence: _Evidence) -> tuple[Verdict, list[int]]:
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
