"""Does a source sentence answer the question? The check behind extractive answers and the gate every shown answer
passes, whatever wrote it.

A sentence can only answer when it
- contains every number the question names ("tons carried in 1935" is not answered by a sentence about 1925);
- names, in itself or in its passage's title, heading or document id, every name the question uses: a word with
  digits or symbols, or one too rare to be common English (wordfreq's Zipf frequency under 1.5: "procps",
  "ffi_cif", "httpx2"), so grep's bug address never answers a question about procps;
- holds the kind of thing asked for when the question says so: an e-mail address or URL for "address", a year or
  date for "when", a number for "how many", an option or flag for "which option", a version for "which version",
  an environment variable for "which environment variable" (yes/no questions ask for none);
- for "how many X", says X ("How many members does the society have?" is not answered by the year it was founded);
- adds something to the question instead of restating it.
Among the sentences that can answer, a logistic model over similarity and word coverage gives the probability that
one does (`AnswerModel`; weights fitted by training/relevance on CLAPNQ dev questions outside the report set, in
relevance.json beside this file). Below its threshold the system abstains.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.records import Passage, SentenceSpan
from rag.text import STOPWORDS, WORD, content_sequence, content_stems, wordset

MODEL_FILE = Path(__file__).resolve().parent / "relevance.json"
RARE_ZIPF = 1.5
QUESTION_WORDS = wordset(
    "what which who whom whose when where why how does do did is are was were can could should would will list "
    "name tell give explain describe"
)
# "how many" and the words that say what is counted, up to the first stopword or number ("times" counts nothing)
HOW_MANY = re.compile(r"\bhow many\s+(.*)", re.I)
NOT_COUNTED = wordset("times")
YES_NO = re.compile(r"^\s*(is|are|was|were|does|do|did|can|could|will|would|should|has|have|had)\b", re.I)
EXPECTED: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("contact", re.compile(r"\b(e-?mail|mailing list|(bug|report|contact|send)\w* \w* ?address)\b", re.I)),
    ("url", re.compile(r"\b(url|website|web site|home ?page|link)\b", re.I)),
    ("variable", re.compile(r"\b(which|what) (\w+ )?environment variables?\b", re.I)),
    ("option", re.compile(r"\b(which|what) (\w+ ){0,3}(option|flag|switch|command-line argument)s?\b", re.I)),
    ("version", re.compile(r"\b(which|what|minimum|oldest|required|supported) (\w+ )?versions?\b", re.I)),
    ("date", re.compile(r"^\s*(when|in what year|what year|which year|what date|on what date)\b", re.I)),
    (
        "number",
        re.compile(
            r"\bhow (many|much|long|far|old|big|tall|large|often|fast)\b|\bwhat (percentage|number)\b",
            re.I,
        ),
    ),
)
FOUND: dict[str, re.Pattern[str]] = {
    "contact": re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+|https?://\S+|\bwww\.\S+|\b[\w-]+\.(org|com|net|io)\b"),
    "url": re.compile(r"https?://\S+|\bwww\.\S+|\b[\w-]+(\.[\w-]+)*\.(org|com|net|io|dev)(/\S*)?"),
    "variable": re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b|\$[A-Z_]{2,}"),
    "option": re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*|\b\w+=\S+|`[^`\s]+`|\b[A-Z][A-Z0-9_]{3,}\b"),
    "version": re.compile(r"\b\d+(\.\d+)+\b|\bv\d+\b"),
    "date": re.compile(
        r"\b(1[0-9]{3}|20[0-9]{2})s?\b|\b(january|february|march|april|may|june|july|august|september|october|"
        r"november|december)\b|\b(century|decade|today|yesterday|ago)\b",
        re.I,
    ),
    "number": re.compile(
        r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|hundred|thousand|"
        r"million|billion|dozen|half|single|double|once|twice)\b",
        re.I,
    ),
}
FEATURES = ("similarity", "coverage", "sentence_coverage", "novelty", "title_match", "first_passage")


def expected_kind(question: str) -> str | None:
    """The kind of thing the question asks for, when it says so plainly (None otherwise, and for yes/no
    questions)."""
    if YES_NO.search(question):
        return None
    return next((kind for kind, pattern in EXPECTED if pattern.search(question)), None)


def holds_kind(text: str, kind: str | None) -> bool:
    return kind is None or bool(FOUND[kind].search(text))


def counted(question: str) -> str | None:
    """What a "how many" question counts ("tons" in "How many tons of slate..."), or None."""
    match = HOW_MANY.search(question)
    if match is None:
        return None
    words = []
    for word in WORD.findall(match.group(1)):
        if word.lower() in STOPWORDS or word[0].isdigit():
            break
        words.append(word)
    return " ".join(w for w in words if w.lower() not in NOT_COUNTED) or None


def question_terms(question: str) -> set[str]:
    """The question's content stems, question words left out."""
    return {stem for stem in content_stems(question) if stem not in QUESTION_WORDS}


def is_name(word: str) -> bool:
    """A word with digits or symbols, or one too rare to be common English: the name of a program, a library, a
    place."""
    if len(word) < 2 or word.lower() in STOPWORDS or word.lower() in QUESTION_WORDS or word.isdigit():
        return False
    return bool(re.search(r"\d|[_./@]|[a-z]-?[A-Z]|[A-Za-z]\d", word)) or zipf(word.lower()) < RARE_ZIPF


# how a small generator introduces a sentence as the answer: "The answer to this question is: ..."
ANSWER_LEAD_IN = re.compile(r"^\s*(?:the\s+)?answer(?:\s+to\s+(?:this|the|your)\s+question)?\s*(?:is\s*:?|:)\s*", re.I)


def repeats_part_of(sentence: str, claim: str) -> bool:
    """Whether the claim says nothing the source sentence does not: its content words, after any answer lead-in,
    all appear in the sentence in the same order (a copy of it, whole or in part)."""
    wanted = content_sequence(ANSWER_LEAD_IN.sub("", claim, count=1))
    said = iter(content_sequence(sentence))
    return bool(wanted) and all(word in said for word in wanted)


def names_in(question: str) -> list[str]:
    raw = re.findall(r"[A-Za-z0-9][\w./@+-]*[A-Za-z0-9]|[A-Za-z]{2,}", question)
    return list(dict.fromkeys(w.lower().rstrip(".") for w in raw if is_name(w)))


@cache
def zipf(word: str) -> float:
    """How common an English word is (wordfreq's Zipf scale: 0 unknown, 3 once per million words, 7 "the")."""
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "en"))


def mentions(term: str, text: str) -> bool:
    """`term` appears in `text` (case-insensitive), as a word or as part of one (procps in procps@freelists.org)."""
    return term in text.lower()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A source sentence considered as an answer: where it is, whether it can answer, and its features."""

    n: int
    passage: Passage
    span: SentenceSpan
    eligible: bool
    reasons: tuple[str, ...]
    features: dict[str, float] = field(default_factory=dict)
    probability: float = 0.0


@dataclass(frozen=True)
class AnswerModel:
    """p(sentence answers the question) = sigmoid(bias + sum(w * feature)); abstain below `threshold`."""

    weights: dict[str, float]
    bias: float
    threshold: float

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> AnswerModel:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls(dict(data["weights"]), float(data["bias"]), float(data["threshold"]))

    def probability(self, features: dict[str, float]) -> float:
        z = self.bias + sum(w * features[name] for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))


class AnswerCheck:
    """Finds the source sentences that answer a question, best first; `embed` is the retrieval embedder's encode."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray], model: AnswerModel | None = None) -> None:
        self.embed = embed
        self._model = model

    @property
    def model(self) -> AnswerModel:
        return self._model or default_model()

    def warm_up(self) -> None:
        """Load the answer model and the word frequencies (about a second on first use)."""
        _ = self.model, zipf("the")

    def candidates(self, question: str, vector: np.ndarray, passages: Sequence[Passage]) -> list[Candidate]:
        """Every sentence of every passage, with its eligibility, features and probability, best first."""
        spans = [(n, p, s) for n, p in enumerate(passages, start=1) for s in sentences_of(p)]
        if not spans:
            return []
        similarity = self.embed([s.text for _, _, s in spans]) @ vector
        names = names_in(question)
        found = [
            self._candidate(question, names, n, passage, span, float(sim))
            for (n, passage, span), sim in zip(spans, similarity, strict=True)
        ]
        return sorted(found, key=lambda c: (not c.eligible, -c.probability))

    def judge(self, question: str, vector: np.ndarray, n: int, passage: Passage, span: SentenceSpan) -> Candidate:
        """One given sentence (of passage number n) as an answer."""
        similarity = float(self.embed([span.text])[0] @ vector)
        return self._candidate(question, names_in(question), n, passage, span, similarity)

    def answers(self, candidate: Candidate) -> bool:
        return candidate.eligible and candidate.probability >= self.model.threshold

    def best(self, question: str, vector: np.ndarray, passages: Sequence[Passage]) -> Candidate | None:
        """The sentence most likely to answer, if it can answer and its probability reaches the threshold."""
        ranked = self.candidates(question, vector, passages)
        return ranked[0] if ranked and self.answers(ranked[0]) else None

    def _candidate(
        self, question: str, names: Sequence[str], n: int, passage: Passage, span: SentenceSpan, similarity: float
    ) -> Candidate:
        context = " ".join((passage.chunk.title, " ".join(passage.chunk.heading), passage.chunk.doc_id))
        reasons = blocking_reasons(question, names, span.text, context)
        features = answer_features(question, span.text, context, similarity, n)
        return Candidate(n, passage, span, not reasons, tuple(reasons), features, self.model.probability(features))


def blocking_reasons(question: str, names: Sequence[str], sentence: str, context: str) -> list[str]:
    """Why `sentence` cannot answer `question` (empty when it can); `names` are the question's names and `context`
    the sentence's passage title, heading and document id."""
    reasons = []
    missing_numbers = standalone_numbers(question) - standalone_numbers(sentence)
    if missing_numbers:
        reasons.append(f"lacks the number(s) {', '.join(sorted(missing_numbers))}")
    absent = [term for term in names if not mentions(term, sentence) and not mentions(term, context)]
    if absent:
        reasons.append(f"does not name {', '.join(absent)}")
    kind = expected_kind(question)
    if not holds_kind(sentence, kind):
        reasons.append(f"holds no {kind}")
    things = counted(question)
    if things and not content_stems(things) & content_stems(sentence):
        reasons.append(f"does not say how many {things}")
    if not content_stems(sentence) - question_terms(question):
        reasons.append("only restates the question")
    return reasons


def answer_features(question: str, sentence: str, context: str, similarity: float, n: int) -> dict[str, float]:
    asked = question_terms(question)
    in_sentence = content_stems(sentence)
    in_context = content_stems(context)
    said = in_sentence - asked
    return {
        "similarity": similarity,
        "coverage": len(asked & (in_sentence | in_context)) / max(len(asked), 1),
        "sentence_coverage": len(asked & in_sentence) / max(len(asked), 1),
        "novelty": len(said) / max(len(in_sentence), 1),
        "title_match": float(bool(asked & in_context)),
        "first_passage": float(n == 1),
    }


def sentences_of(passage: Passage) -> tuple[SentenceSpan, ...]:
    chunk = passage.chunk
    return chunk.sentences or (SentenceSpan(chunk.text, chunk.start, chunk.end),)


STANDALONE_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)(?:st|nd|rd|th)?(?![\w])")


def standalone_numbers(text: str) -> set[str]:
    """Numbers written as numbers ("1935", "4th", "2.5"), not digits inside names such as httpx2 or h11."""
    return {match.replace(",", "") for match in STANDALONE_NUMBER.findall(text)}


@cache
def default_model() -> AnswerModel:
    return AnswerModel.load()
