"""Registers the built-in support scorers by name: "trained" (default), "heuristic" and "nli".

Importing this module is cheap: each factory imports its model libraries only when called.
"""

from __future__ import annotations

from rag.config import Settings
from rag.verify.scoring import SCORERS, SupportScorer


@SCORERS.register("trained")
def trained(settings: Settings) -> SupportScorer:
    """The committed MiniLM cross-encoder verifier, calibrated (rag/verify/model/)."""
    from rag.verify.trained import build_trained

    return build_trained(settings)


@SCORERS.register("heuristic")
def heuristic(settings: Settings) -> SupportScorer:
    """Embedding similarity + word, number, name and negation coverage, no NLI model."""
    from rag.verify.heuristic import build_heuristic

    return build_heuristic(settings)


@SCORERS.register("nli")
def nli(settings: Settings) -> SupportScorer:
    """Any Hugging Face NLI / fact-checking sequence classifier named by settings.nli_model."""
    from rag.verify.nli import build_nli

    return build_nli(settings)
