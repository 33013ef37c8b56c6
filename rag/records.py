"""Immutable records that flow through the pipeline: ingest -> index -> retrieve -> generate -> verify -> eval.

Every stage takes these records and returns new ones; none is edited in place. `Answer.to_dict()` is the
JSON contract shared by `rag ask --json`, the HTTP API and the evaluation runner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


def content_hash(text: str) -> str:
    """Stable hash of a document's text: what incremental ingestion compares."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Section:
    """Where a region of a document starts, and the page and heading path that hold from there on."""

    start: int
    page: int | None = None
    heading: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Document:
    """One loaded source: its full text plus where pages and headings begin."""

    doc_id: str
    text: str
    title: str = ""
    source: str = ""
    sections: tuple[Section, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def hash(self) -> str:
        return content_hash(self.text)

    def section_at(self, offset: int) -> Section:
        """The section in force at a character offset (the last one starting at or before it)."""
        current = Section(0)
        for section in self.sections:
            if section.start > offset:
                break
            current = section
        return current


@dataclass(frozen=True, slots=True)
class SentenceSpan:
    """A sentence of a chunk with its character offsets in the whole document."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document small enough to embed, with everything needed to cite and quote it."""

    chunk_id: int
    doc_id: str
    ordinal: int
    text: str
    start: int
    end: int
    title: str = ""
    source: str = ""
    page: int | None = None
    heading: tuple[str, ...] = ()
    sentences: tuple[SentenceSpan, ...] = ()


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk: its rank, fused score and the score each retriever gave it."""

    chunk: Chunk
    score: float
    rank: int
    scores: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self, n: int) -> dict[str, Any]:
        c = self.chunk
        return {
            "n": n,
            "chunk_id": c.chunk_id,
            "doc_id": c.doc_id,
            "title": c.title,
            "page": c.page,
            "heading": list(c.heading),
            "score": round(self.score, 6),
            "text": c.text,
        }


@dataclass(frozen=True, slots=True)
class Citation:
    """A source that supports a sentence, with the best supporting quote and its offsets in the document."""

    n: int
    chunk_id: int
    doc_id: str
    quote: str
    start: int
    end: int
    support: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "quote": self.quote,
            "start": self.start,
            "end": self.end,
            "support": round(self.support, 4),
        }


ClaimKind = Literal["claim", "abstention", "cut_off", "fragment", "repeat"]


@dataclass(frozen=True, slots=True)
class Claim:
    """A sentence of generated text, its [n] markers removed, the source numbers it cited, and what the claim
    rules (rag.verify.claims) made of it: a claim to check, the generator saying the sources lack the answer,
    a sentence cut off by max_tokens, a fragment that states nothing checkable, or a repeat of an earlier claim."""

    text: str
    citations: tuple[int, ...] = ()
    kind: ClaimKind = "claim"

    @property
    def checkable(self) -> bool:
        return self.kind == "claim"


VerdictStatus = Literal["supported", "recited", "quoted", "unsupported"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judgement of one sentence: supported by its own citations, re-cited to the passage that supports it,
    quoted word for word from a source (support 1.0), or unsupported."""

    status: VerdictStatus
    support: float

    @property
    def supported(self) -> bool:
        return self.status != "unsupported"


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of an answer: the generator's citations, the verified ones, the verdict, and its support
    by each passage the generator read (`support_by_passage[i]` is passage number i + 1; None for a passage not
    read because the sentence's own citations support it)."""

    text: str
    verdict: Verdict
    citations: tuple[Citation, ...] = ()
    generator_citations: tuple[int, ...] = ()
    support_by_passage: tuple[float | None, ...] = ()

    @property
    def supported(self) -> bool:
        return self.verdict.supported

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "supported": self.supported,
            "status": self.verdict.status,
            "support": round(self.verdict.support, 4),
            "citations": [c.to_dict() for c in self.citations],
            "generator_citations": list(self.generator_citations),
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """What `ask` returns: the verified answer, every sentence with its verdict, and the evidence used.

    `passages` are the passages the generator read, numbered [1]..[n]; `composition` the strategy that made the
    answer (free, quote or extractive); `closest`, for an abstention, the source sentences nearest to an answer
    (support = how likely each is to answer). `retrieved` holds everything retrieval returned (at least the
    passages, in rank order) and `draft` the generator's answer split into claims by the claim rules; those two
    are for evaluation and are not part of `to_dict()`.
    """

    question: str
    answer: str
    abstained: bool
    sentences: tuple[Sentence, ...] = ()
    passages: tuple[Passage, ...] = ()
    raw_answer: str = ""
    abstain_reason: str | None = None
    policy: str = "filter"
    removed_sentences: tuple[Sentence, ...] = ()
    extractive: bool = False
    timings: Mapping[str, float] = field(default_factory=dict)
    composition: str = "free"
    closest: tuple[Citation, ...] = ()
    retrieved: tuple[Passage, ...] = ()
    draft: tuple[Claim, ...] = ()

    @property
    def removed(self) -> int:
        """How many generated sentences the policy withheld for lack of support."""
        return len(self.removed_sentences)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "abstain_reason": self.abstain_reason,
            "policy": self.policy,
            "removed": self.removed,
            "extractive": self.extractive,
            "composition": self.composition,
            "sentences": [s.to_dict() for s in self.sentences],
            "removed_sentences": [s.to_dict() for s in self.removed_sentences],
            "passages": [p.to_dict(n) for n, p in enumerate(self.passages, start=1)],
            "raw_answer": self.raw_answer,
            "closest": [c.to_dict() for c in self.closest],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


@dataclass(frozen=True, slots=True)
class IngestReport:
    """Counts of one ingest run, every skipped path with its reason, how many files were seen, and warnings
    (such as: nothing was kept, and why)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_added: int = 0
    skipped: tuple[tuple[str, str], ...] = ()
    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0
    files: int = 0
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "chunks_added": self.chunks_added,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "documents": self.documents,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "files": self.files,
            "warnings": list(self.warnings),
        }
