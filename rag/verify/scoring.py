"""The support-scorer interface: how strongly a premise (source text) supports a claim (answer sentence).

Every scorer returns calibrated probabilities in [0, 1] and carries the decision threshold chosen on dev
data. Building one is light; its model loads at `warm_up()` or on first use. Scorers are chosen by name
(setting `scorer`) from rag.registry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from rag import registry
from rag.config import Settings, load_settings


@runtime_checkable
class SupportScorer(Protocol):
    """score(premise, claim) -> probability that the premise supports the claim."""

    name: str
    threshold: float

    def warm_up(self) -> None: ...

    def score(self, premise: str, claim: str) -> float: ...

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]: ...


def load_scorer(settings: Settings) -> SupportScorer:
    """The configured scorer (setting `scorer`), not yet warmed up."""
    return registry.create("scorer", settings.scorer, settings)


def load_second_opinion(settings: Settings) -> SupportScorer | None:
    """The scorer that must also support a generated sentence (setting generated_second_opinion), at its own
    default threshold, or None when it is off or names the configured scorer."""
    name = settings.generated_second_opinion
    if name is None or name == settings.scorer:
        return None
    return registry.create("scorer", name, settings.model_copy(update={"scorer": name, "support_threshold": None}))


def load_scorers(specs: Sequence[str]) -> list[SupportScorer]:
    """Each named scorer with otherwise default settings, for side-by-side measurements; "trained:DIR" is the
    trained verifier in DIR (a candidate beside the committed one)."""
    scorers = []
    for spec in specs:
        name, _, directory = spec.partition(":")
        settings = load_settings(scorer=name, trained_verifier=Path(directory) if directory else None)
        scorers.append(load_scorer(settings))
    return scorers


def sigmoid(value: float) -> float:
    """The logistic function, clipped so that no input overflows."""
    return 1.0 / (1.0 + math.exp(-max(min(value, 60.0), -60.0)))


def configured_threshold(settings: Settings, default: float = 0.5) -> float:
    """settings.support_threshold when set, else the scorer's own default."""
    return default if settings.support_threshold is None else settings.support_threshold
