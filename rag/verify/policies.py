"""Answer policies: what the user gets once every sentence has a verdict.

- annotate: every sentence is kept; unsupported ones are marked.
- filter (default): unsupported sentences are removed and counted.
- strict: the whole answer is withheld unless every sentence is supported.
Each abstains, with a reason, when no supported sentence is left. Chosen by name (setting `policy`) from
rag.registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.records import Sentence

UNSUPPORTED_MARK = "[unsupported]"


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    """The sentences shown, those withheld, and why the answer abstains (None if it does not)."""

    sentences: tuple[Sentence, ...]
    removed: tuple[Sentence, ...]
    abstain_reason: str | None


Policy = Callable[[Sequence[Sentence]], PolicyOutcome]

NOTHING_SUPPORTED = "no sentence of the generated answer is supported by the retrieved sources"


def annotate(sentences: Sequence[Sentence]) -> PolicyOutcome:
    supported = any(s.supported for s in sentences)
    return PolicyOutcome(tuple(sentences), (), None if supported else NOTHING_SUPPORTED)


def keep_supported(sentences: Sequence[Sentence]) -> PolicyOutcome:
    kept = tuple(s for s in sentences if s.supported)
    removed = tuple(s for s in sentences if not s.supported)
    return PolicyOutcome(kept, removed, None if kept else NOTHING_SUPPORTED)


def all_or_nothing(sentences: Sequence[Sentence]) -> PolicyOutcome:
    unsupported = sum(not s.supported for s in sentences)
    if not sentences:
        return PolicyOutcome((), (), NOTHING_SUPPORTED)
    if unsupported:
        reason = f"strict policy: {unsupported} of {len(sentences)} sentences are not supported by the sources"
        return PolicyOutcome((), tuple(sentences), reason)
    return PolicyOutcome(tuple(sentences), (), None)


def render(sentences: Sequence[Sentence]) -> str:
    """Answer text with the verified citation markers after each sentence."""
    parts = []
    for sentence in sentences:
        markers = "".join(f"[{n}]" for n in dict.fromkeys(c.n for c in sentence.citations))
        mark = "" if sentence.supported else f" {UNSUPPORTED_MARK}"
        parts.append(f"{sentence.text.rstrip()} {markers}".rstrip() + mark)
    return " ".join(parts)
