"""Scorer "trained": the project's own MiniLM-L6 cross-encoder verifier committed in rag/verify/model/.

It returns calibrated probabilities: a logistic model over the cross-encoder's log-odds and, when calibration.json
gives feature_weights, the heuristic scorer's alignment features too (which combination is chosen by
cross-validation on dev: see training.verifier), then the model-free rules of rag.verify.rules (a sentence of the
premise copied word for word is supported; a claim that contradicts its premise is capped). The cross-encoder
(int8 ONNX when `quantize`) sees either the premise's sentences that share most words with the claim, up to
`evidence_words` words, or, with evidence_words 0, every premise window (max over windows). The decision threshold
chosen on dev data lives beside the weights in calibration.json (settings.support_threshold overrides it).
How it was made: training.verifier and rag/verify/model/MODEL_CARD.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import ModelNotFoundError
from rag.models import TRAINED_VERIFIER_DIR
from rag.verify.heuristic import MODEL_FREE_FEATURES, HeuristicScorer, select_evidence
from rag.verify.nli import DEFAULT_BATCH_SIZE, DEFAULT_MAX_LENGTH, DEFAULT_WINDOW_WORDS, SequenceClassifier
from rag.verify.rules import ruled
from rag.verify.scoring import sigmoid
from rag.verify.windows import score_windowed

MODEL_DIR = TRAINED_VERIFIER_DIR


@dataclass(frozen=True)
class Calibration:
    """What calibration.json holds: p = sigmoid(slope * log_odds + sum(w * feature) + intercept)."""

    platt_slope: float = 1.0
    platt_intercept: float = 0.0
    feature_weights: dict[str, float] = field(default_factory=dict)
    threshold: float = 0.5
    max_length: int = DEFAULT_MAX_LENGTH
    window_words: int = DEFAULT_WINDOW_WORDS
    evidence_words: int = 0
    quantize: bool = False
    # pairs per model call; 1 makes a pair's score independent of its neighbours (int8 activations are
    # quantised per batch)
    batch_size: int = DEFAULT_BATCH_SIZE

    @classmethod
    def load(cls, model_dir: Path) -> Calibration:
        path = model_dir / "calibration.json"
        if not path.is_file():
            return cls()
        known = cls.__dataclass_fields__
        values: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: v for k, v in values.items() if k in known})

    def probability(self, log_odds: float, features: dict[str, float] | None = None) -> float:
        if self.feature_weights and features is None:
            raise ValueError("this calibration combines alignment features: pass them")
        extra = sum(w * features[name] for name, w in self.feature_weights.items()) if features else 0.0
        return sigmoid(self.platt_slope * log_odds + extra + self.platt_intercept)


class CrossEncoderVerifier:
    """The cross-encoder with windowing: raw log-odds per (premise, claim), max over premise windows."""

    def __init__(self, model_dir: Path, threads: int | None = None, calibration: Calibration | None = None):
        self.calibration = calibration or Calibration.load(model_dir)
        self.classifier = SequenceClassifier(
            model_dir,
            "scorer",
            threads,
            max_length=self.calibration.max_length,
            quantize=self.calibration.quantize,
            batch_size=self.calibration.batch_size,
        )

    def margins(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        words = self.calibration.evidence_words
        if words:
            return self.classifier.log_odds([(select_evidence(p, c, words), c) for p, c in pairs])
        return score_windowed(pairs, self.classifier.log_odds, self.calibration.window_words)


class TrainedScorer:
    """Calibrated support probabilities from the committed cross-encoder."""

    name = "trained"

    def __init__(
        self, verifier: CrossEncoderVerifier, threshold: float | None = None, threads: int | None = None
    ) -> None:
        self.verifier = verifier
        self.threshold = verifier.calibration.threshold if threshold is None else threshold
        self.heuristic = HeuristicScorer(threads=threads)

    def warm_up(self) -> None:
        self.verifier.classifier.warm_up()
        if set(self.verifier.calibration.feature_weights) - set(MODEL_FREE_FEATURES):
            self.heuristic.warm_up()

    def score(self, premise: str, claim: str) -> float:
        return self.score_batch([(premise, claim)])[0]

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        calibration = self.verifier.calibration
        # a calibration that gives the cross-encoder no weight skips running it
        margins = self.verifier.margins(pairs) if calibration.platt_slope else [0.0] * len(pairs)
        if not calibration.feature_weights:
            return ruled(pairs, [calibration.probability(m) for m in margins])
        if set(calibration.feature_weights) <= set(MODEL_FREE_FEATURES):
            features = self.heuristic.lexical_feature_batch(pairs, calibration.window_words)
        else:
            features = self.heuristic.feature_batch(pairs, calibration.window_words)
        return ruled(pairs, [calibration.probability(m, f) for m, f in zip(margins, features, strict=True)])


def build_trained(settings: Settings) -> TrainedScorer:
    """The "trained" scorer from the committed model (or setting trained_verifier); a one-line error if its files
    are missing."""
    model_dir = settings.trained_verifier or MODEL_DIR
    if not (model_dir / "config.json").is_file():
        raise ModelNotFoundError("scorer", "trained", f"no model files in {model_dir}")
    verifier = CrossEncoderVerifier(model_dir, settings.threads)
    return TrainedScorer(verifier, settings.support_threshold, settings.threads)
