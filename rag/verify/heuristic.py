"""Scorer "heuristic": a transparent, offline support score built from alignment features, no NLI model.

Features of a (premise, claim) pair:
  similarity   max cosine between the claim and a premise sentence (packaged all-MiniLM-L6-v2 as int8 ONNX);
               only the CANDIDATES sentences sharing most content words with the claim are embedded (speed)
  coverage     share of the claim's content words (lower-cased, 5-letter stems) found in the premise
  window_coverage  the same share in the premise window (the cross-encoder's, of whole sentences) that holds
               most of them: a claim whose words are spread over a long page is only partly supported in any
               one place (used by the trained scorer's calibration, not by this scorer's formula)
  numbers      share of the claim's numbers absent from the premise (strong evidence against)
  entities     share of the claim's capitalised names absent from the premise
  negation     1 when the claim and its best-matching premise sentence disagree on negation
combined as p = sigmoid(BIAS + sum(WEIGHTS[f] * f)), then the model-free rules of rag.verify.rules (a copied
premise sentence is supported; a contradiction is capped). The weights and THRESHOLD are constants fitted with
`python -m training.verifier --stage heuristic` (logistic regression on the dev splits of WiCE and HaluEval,
each dataset weighted equally; threshold = best mean balanced accuracy on the same dev splits).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from rag.config import Settings
from rag.index.embedding import Embedder
from rag.text import NAME, STOPWORDS, content_stems, is_negated, most_shared, numbers, overlaps, ranked, sentences
from rag.verify.nli import DEFAULT_WINDOW_WORDS
from rag.verify.rules import ruled
from rag.verify.scoring import sigmoid
from rag.verify.windows import split_windows

EMBEDDER = "all-MiniLM-L6-v2"
EMBEDDER_BACKEND = "onnx-int8"  # 2x faster than torch here; the fitted weights below assume it
FEATURES = ("similarity", "coverage", "numbers", "entities", "negation")
LEXICAL_FEATURES = FEATURES[1:]  # no model needed: negation is judged against the best lexical match
# the model-free features with coverage read in one premise window (the trained scorer's "local" calibration)
LOCAL_FEATURES = ("window_coverage", *LEXICAL_FEATURES[1:])
MODEL_FREE_FEATURES = (*LEXICAL_FEATURES, "window_coverage")
# fitted on dev with seed 0 (see module docstring; dev balanced accuracy WiCE 0.81, HaluEval 0.615)
WEIGHTS: dict[str, float] = {
    "similarity": 2.202,
    "coverage": 2.754,
    "numbers": -2.513,
    "entities": -0.189,
    "negation": -1.209,
}
BIAS = -3.433
THRESHOLD = 0.495
CANDIDATES = 8


def names(text: str) -> set[str]:
    """Capitalised words that are not the first word of a sentence and not stopwords."""
    found = set()
    for sentence in sentences(text):
        found |= {m.group() for m in NAME.finditer(sentence) if m.start() > 0}
    return {n for n in found if n.lower() not in STOPWORDS}


def missing_share(needed: set[str], present: set[str]) -> float:
    return len(needed - present) / len(needed) if needed else 0.0


def candidates(premise: str, claim: str, count: int = CANDIDATES) -> list[str]:
    """The premise sentences sharing most content words with the claim, in premise order."""
    found = sentences(premise) or [premise]
    if len(found) <= count:
        return found
    return [found[i] for i in most_shared(found, claim, count)]


def select_evidence(premise: str, claim: str, max_words: int) -> str:
    """The premise cut to at most max_words words of its sentences sharing most content words with the claim.

    Sentences keep their premise order; a premise that fits is returned unchanged. The best sentence is always
    kept (cut to max_words when it is longer on its own); other sentences only when they share a content word
    with the claim, since unrelated padding measurably drowns the evidence for the cross-encoder.
    """
    if len(premise.split()) <= max_words:
        return premise
    found = sentences(premise) or [premise]
    shared = overlaps(found, claim)
    order = ranked(shared)
    chosen: list[int] = []
    words = 0
    for index in order[:1] + [i for i in order[1:] if shared[i]]:
        size = len(found[index].split())
        if words + size <= max_words:
            chosen.append(index)
            words += size
    if not chosen:
        return " ".join(found[order[0]].split()[:max_words])
    return " ".join(found[i] for i in sorted(chosen))


def coverage(wanted: set[str], text: str) -> float:
    """Share of the wanted content stems found in text."""
    return 1.0 - missing_share(wanted, content_stems(text))


def window_coverage(premise: str, claim: str, window_words: int = DEFAULT_WINDOW_WORDS) -> float:
    """The largest share of the claim's content words found in any one premise window of `window_words` words
    (a premise that fits is its only window)."""
    return _best_window_share(content_stems(claim), premise, window_words)


def _best_window_share(wanted: set[str], premise: str, window_words: int) -> float:
    return max(coverage(wanted, window) for window in split_windows(premise, window_words))


def lexical_features(
    premise: str, claim: str, best_sentence: str, window_words: int = DEFAULT_WINDOW_WORDS
) -> dict[str, float]:
    """The MODEL_FREE_FEATURES of one pair, given the premise sentence that best matches the claim and the
    window size that window_coverage reads."""
    premise_lower = premise.lower()
    wanted = content_stems(claim)
    return {
        "coverage": coverage(wanted, premise),
        "window_coverage": _best_window_share(wanted, premise, window_words),
        "numbers": missing_share(numbers(claim), numbers(premise)),
        "entities": sum(n.lower() not in premise_lower for n in names(claim)) / max(len(names(claim)), 1),
        "negation": float(is_negated(claim) != is_negated(best_sentence)),
    }


def features(
    premise: str, claim: str, best_sentence: str, similarity: float, window_words: int = DEFAULT_WINDOW_WORDS
) -> dict[str, float]:
    """The five features (and window_coverage) of one pair, given the premise sentence most similar to the
    claim."""
    return {"similarity": similarity, **lexical_features(premise, claim, best_sentence, window_words)}


def combine(values: dict[str, float], weights: dict[str, float] = WEIGHTS, bias: float = BIAS) -> float:
    return sigmoid(bias + sum(weights[name] * values[name] for name in FEATURES))


@lru_cache(maxsize=2)
def load_embedder(threads: int | None = None) -> Embedder:
    """The packaged embedder on the backend the weights were fitted with, loaded once per process."""
    return Embedder(EMBEDDER, threads=threads, backend=EMBEDDER_BACKEND)


class HeuristicScorer:
    """Alignment features combined by a documented logistic formula."""

    name = "heuristic"

    def __init__(self, threshold: float = THRESHOLD, threads: int | None = None) -> None:
        self.threshold = threshold
        self.threads = threads

    def warm_up(self) -> None:
        load_embedder(self.threads).warm_up()

    def score(self, premise: str, claim: str) -> float:
        return self.score_batch([(premise, claim)])[0]

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return ruled(pairs, [combine(values) for values in self.feature_batch(pairs)])

    def feature_batch(
        self, pairs: Sequence[tuple[str, str]], window_words: int = DEFAULT_WINDOW_WORDS
    ) -> list[dict[str, float]]:
        """Features of every pair; all sentences and claims are embedded in one batch."""
        sentences = [candidates(premise, claim) for premise, claim in pairs]
        texts = sorted({t for group in sentences for t in group} | {claim for _, claim in pairs})
        vectors = self._embed(texts)
        row = {text: index for index, text in enumerate(texts)}
        result = []
        for (premise, claim), group in zip(pairs, sentences, strict=True):
            sims = vectors[[row[s] for s in group]] @ vectors[row[claim]]
            best = int(sims.argmax())
            result.append(features(premise, claim, group[best], float(sims[best]), window_words))
        return result

    def lexical_feature_batch(
        self, pairs: Sequence[tuple[str, str]], window_words: int = DEFAULT_WINDOW_WORDS
    ) -> list[dict[str, float]]:
        """MODEL_FREE_FEATURES of every pair (no embedding): fast enough for any batch."""
        return [lexical_features(p, c, candidates(p, c, 1)[0], window_words) for p, c in pairs]

    def _embed(self, texts: list[str]) -> np.ndarray:
        return load_embedder(self.threads).encode(texts)


def build_heuristic(settings: Settings) -> HeuristicScorer:
    threshold = THRESHOLD if settings.support_threshold is None else settings.support_threshold
    return HeuristicScorer(threshold, settings.threads)
