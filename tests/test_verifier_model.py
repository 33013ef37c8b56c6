"""The committed trained verifier (rag/verify/model/): loads offline, is calibrated, finds support deep in a
long premise, and decides a fixed set of hand-written pairs correctly."""

from __future__ import annotations

import json
import math

import pytest

from rag.config import Settings
from rag.verify.scoring import SupportScorer, load_scorer
from rag.verify.trained import MODEL_DIR, Calibration, TrainedScorer
from tests.test_scorers import FILLER, NEEDLE, long_premise

RAILWAY = "The Harbor Valley Light Railway was founded in 1894 by a group of local mill owners."
CURIE = "Marie Curie won the Nobel Prize in Physics in 1903 and the Nobel Prize in Chemistry in 1911."
BRIDGE = "The bridge, which opened to traffic in 1937, spans 2.7 kilometres across the strait."
ASPIRIN = "Aspirin reduces the risk of heart attack in some patients, but it can cause stomach bleeding."
COMPANY = "The company was founded in Berlin in 1998 and makes industrial sensors."
TICKETS = "Tickets cost 15 euros for adults and 8 euros for children under 12."

# (premise, claim, supported?, kind): written before the model was trained, never tuned on
HAND_PAIRS: list[tuple[str, str, bool, str]] = [
    (RAILWAY, "The railway was founded in 1894.", True, "entailed"),
    (CURIE, "Marie Curie won the Nobel Prize in Chemistry in 1911.", True, "entailed"),
    (BRIDGE, "The bridge opened in 1937.", True, "entailed"),
    (ASPIRIN, "Aspirin can cause stomach bleeding.", True, "entailed"),
    (
        "After graduating from Oxford in 1962, she joined the BBC as a radio producer.",
        "She worked for the BBC.",
        True,
        "entailed",
    ),
    (TICKETS, "Children under 12 pay 8 euros.", True, "entailed"),
    (
        "The city's population grew from 50,000 in 1950 to 210,000 in 2000.",
        "In 2000 the city had 210,000 inhabitants.",
        True,
        "entailed",
    ),
    (
        "The museum is closed on Mondays and open every other day of the week.",
        "The museum is open on Mondays.",
        False,
        "contradicted",
    ),
    ("Sales fell by 12 percent in the third quarter.", "Sales rose in the third quarter.", False, "contradicted"),
    (COMPANY, "The company has 5,000 employees.", False, "unsupported"),
    (
        "The river flows through three countries before reaching the sea.",
        "The river is the longest in Europe.",
        False,
        "unsupported",
    ),
    (RAILWAY, "The railway was founded in 1899.", False, "number changed"),
    (BRIDGE, "The bridge spans 4.5 kilometres across the strait.", False, "number changed"),
    (TICKETS, "Tickets cost 25 euros for adults.", False, "number changed"),
    (CURIE, "Albert Einstein won the Nobel Prize in Chemistry in 1911.", False, "entity swapped"),
    (COMPANY, "The company was founded in Munich in 1998.", False, "entity swapped"),
    (ASPIRIN, "Aspirin does not reduce the risk of heart attack.", False, "negated"),
    (
        "The treaty was signed by all twelve member states.",
        "The treaty was not signed by all member states.",
        False,
        "negated",
    ),
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained() -> TrainedScorer:
    scorer = load_scorer(Settings(scorer="trained"))
    assert isinstance(scorer, TrainedScorer)
    return scorer


@pytest.fixture(scope="module")
def hand_scores(trained: TrainedScorer) -> list[float]:
    return trained.score_batch([(premise, claim) for premise, claim, _, _ in HAND_PAIRS])


def test_committed_model_files_are_complete_and_small() -> None:
    for name in ("config.json", "model.safetensors", "tokenizer.json", "calibration.json", "MODEL_CARD.md"):
        assert (MODEL_DIR / name).is_file(), name
    size = sum(f.stat().st_size for f in MODEL_DIR.iterdir() if f.is_file())
    assert size < 50 * 1024 * 1024


def test_default_scorer_is_the_trained_model_loaded_offline(trained: TrainedScorer) -> None:
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert isinstance(trained, SupportScorer) and trained.name == "trained"
    assert trained.verifier.classifier.config.id2label[1] == "supported"


def test_threshold_and_calibration_come_from_calibration_json(trained: TrainedScorer) -> None:
    stored = json.loads((MODEL_DIR / "calibration.json").read_text())
    assert trained.threshold == stored["threshold"]
    assert 0.0 < trained.threshold < 1.0
    calibration = trained.verifier.calibration
    assert calibration == Calibration.load(MODEL_DIR)
    assert calibration.platt_slope > 0  # calibrated probability rises with the model's log-odds
    neutral = dict.fromkeys(calibration.feature_weights, 0.5)
    low, high = calibration.probability(-50, neutral), calibration.probability(50, neutral)
    assert low < 0.01 < 0.99 < high


def test_support_threshold_setting_overrides_the_calibrated_one() -> None:
    assert load_scorer(Settings(scorer="trained", support_threshold=0.9)).threshold == 0.9


def test_scores_are_probabilities_and_single_equals_batch(trained: TrainedScorer, hand_scores: list[float]) -> None:
    assert all(0.0 <= s <= 1.0 and not math.isnan(s) for s in hand_scores)
    premise, claim, _, _ = HAND_PAIRS[0]
    # int8 dynamic quantisation scales activations per batch, so batch company moves a score slightly
    assert trained.score(premise, claim) == pytest.approx(hand_scores[0], abs=0.02)


# the swapped person name (Albert Einstein for Marie Curie) was a strict xfail until the substitution veto
# (rag/verify/contradiction.py) began deciding it, 2026-12-02; the other pairs of this kind: tests/test_contradiction.py
@pytest.mark.parametrize("index", [pytest.param(i, id=f"{pair[3]}-{i}") for i, pair in enumerate(HAND_PAIRS)])
def test_hand_written_pair_is_decided_correctly(trained: TrainedScorer, hand_scores: list[float], index: int) -> None:
    _, claim, supported, kind = HAND_PAIRS[index]
    decision = hand_scores[index] >= trained.threshold
    assert decision == supported, f"{kind}: {claim!r} scored {hand_scores[index]:.3f} vs {trained.threshold:.3f}"


def test_support_deep_in_a_long_premise_is_found(trained: TrainedScorer) -> None:
    with_needle = long_premise(3000, needle_at=0.85)
    without = " ".join([FILLER] * (3000 // len(FILLER.split())))
    found, missing = trained.score_batch([(with_needle, NEEDLE), (without, NEEDLE)])
    assert found >= trained.threshold > missing
