"""The model-free rules that overrule a support scorer's probability; the trained and heuristic scorers apply
them to every pair they score.

- A claim that repeats a whole sentence of its premise word for word is supported (COPY_SUPPORT): the passage
  says it. Case, spacing and punctuation are ignored (so tokenised text's "Peter 's" is "Peter's"); the claim
  needs at least COPY_MIN_WORDS words of letters outside links, so that a copied heading ("## [0.19.0] -
  2021-07-24") or link label is no claim. Measured 2026-12-03, the rule never fires on an unsupported pair of
  the dev or train splits (WiCE, HaluEval, the synthetic claims, the written pairs, the 40 contradiction
  pairs). Before it, the trained scorer refused 90 of the 141 distinct CLAPNQ gold answer sentences that copy
  their gold passage at the 0.7 that generated sentences need, and 7 at its own threshold: a cross-encoder reads a
  short copied sentence inside a long passage as weak evidence.
- A claim that contradicts its premise (rag.verify.contradiction.conflicts) is capped at CONFLICT_CAP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.text import sentences
from rag.verify.contradiction import CONFLICT_CAP, conflicts

COPY_SUPPORT = 0.99
COPY_MIN_WORDS = 6
NOT_ALPHANUMERIC = re.compile(r"[^0-9a-z]+")
ALPHABETIC = re.compile(r"[A-Za-z][A-Za-z'-]*")
URL = re.compile(r"\w+://\S+|\bwww\.\S+")


def normalised(text: str) -> str:
    """The text lower-cased, with nothing but its letters and digits."""
    return NOT_ALPHANUMERIC.sub("", text.lower())


def repeats_sentence(premise: str, claim: str) -> bool:
    """Whether the claim is, word for word, one whole sentence of the premise."""
    said = normalised(claim)
    if len(ALPHABETIC.findall(URL.sub(" ", claim))) < COPY_MIN_WORDS or said not in normalised(premise):
        return False
    return any(normalised(sentence) == said for sentence in sentences(premise))


def ruled(pairs: Sequence[tuple[str, str]], scores: Sequence[float]) -> list[float]:
    """Each (premise, claim) pair's score after the rules: COPY_SUPPORT for a copied sentence, at most
    CONFLICT_CAP for a contradiction, else the score."""
    return [
        COPY_SUPPORT if repeats_sentence(*pair) else min(score, CONFLICT_CAP) if conflicts(*pair) else score
        for pair, score in zip(pairs, scores, strict=True)
    ]
