"""The support-scorer interface: how strongly a premise (source text) supports a claim (answer sentence).

Every scorer returns calibrated probabilities in [0, 1] and carries the decision threshold chosen on dev
data. Implementations register by name in SCORERS and are built from Settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from rag.config import Settings
from rag.registry import Registry


@runtime_checkable
class SupportScorer(Protocol):
    """score(premise, claim) -> probability that the premise supports the claim."""

    name: str
    threshold: float

    def score(self, premise: str, claim: str) -> float: ...

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]: ...


SCORERS: Registry[SupportScorer] = Registry("scorer")


def load_scorer(settings: Settings) -> SupportScorer:
    """Build the configured scorer (registering the built-in ones on first use)."""
    import rag.verify.scorers  # noqa: F401  (registers the built-in scorers)

    return SCORERS.create(settings.scorer, settings)


def load_scorers(names: Sequence[str]) -> list[SupportScorer]:
    """Each named scorer with otherwise default settings, for side-by-side measurements."""
    return [load_scorer(Settings(scorer=name)) for name in names]
