"""The two answers of one item that the evaluation measures side by side with the same metrics: the
generator's raw answer (its own sentences and [n] markers) and the verified answer the user is shown.

Both are read from the Answer: the raw one from `Answer.draft` (the claim rules' split of the generator's text),
so evaluation never parses an answer a second way.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.records import Answer, Claim

RAW_PREFIX = "raw."


@dataclass(frozen=True, slots=True)
class Variant:
    """One answer to measure: its claims (text and cited passage numbers) and whether it abstained."""

    prefix: str
    claims: tuple[Claim, ...]
    abstained: bool

    @property
    def name(self) -> str:
        return "raw" if self.prefix else "verified"

    @property
    def text(self) -> str:
        return " ".join(c.text for c in self.claims)


def raw_variant(answer: Answer) -> Variant:
    """The generator's own answer: every sentence of its draft with its [n] markers, except those in which it
    says the sources lack the answer. It abstained when nothing else is left (also when the pipeline abstained
    before generating)."""
    return draft_variant(answer.draft, RAW_PREFIX)


def draft_variant(draft: tuple[Claim, ...], prefix: str) -> Variant:
    """An answer as the claim rules split it: every sentence with its [n] markers except those saying the
    sources lack the answer; abstained when nothing else is left. The raw generator answer, or another
    system's answer (eval.external)."""
    claims = tuple(Claim(c.text, c.citations) for c in draft if c.kind != "abstention")
    return Variant(prefix, claims, abstained=not claims)


def verified_variant(answer: Answer) -> Variant:
    """What the user is shown: the verified sentences with their verified citations, or an abstention."""
    if answer.abstained:
        return Variant("", (), abstained=True)
    claims = tuple(Claim(s.text, tuple(dict.fromkeys(c.n for c in s.citations))) for s in answer.sentences)
    return Variant("", claims, abstained=not claims)
