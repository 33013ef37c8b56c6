"""Support scorers: registry, interface conformance, windowing, the NLI loader and the heuristic features."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rag import registry
from rag.config import Settings, load_settings
from rag.errors import ModelNotFoundError
from rag.text import sentences
from rag.verify.heuristic import (
    MODEL_FREE_FEATURES,
    HeuristicScorer,
    build_heuristic,
    combine,
    features,
    select_evidence,
    window_coverage,
)
from rag.verify.nli import NliScorer, SequenceClassifier, batched_by_length, build_nli, entailment_index
from rag.verify.scoring import SupportScorer, load_scorer, load_second_opinion
from rag.verify.windows import score_windowed, split_windows

from .conftest import save_tiny_bert

FILLER = "The committee reviewed routine matters of the harbour budget and adjourned without a vote."
NEEDLE = "The lighthouse at Carrow Point was automated in 1987."


def long_premise(words: int = 3000, needle_at: float = 0.8) -> str:
    """About `words` words of filler with NEEDLE placed deep inside."""
    count = words // len(FILLER.split())
    sentences = [FILLER] * count
    sentences.insert(int(count * needle_at), NEEDLE)
    return " ".join(sentences)


# ------------------------------------------------------------------ registry


def test_builtin_scorers_are_registered() -> None:
    assert {"trained", "heuristic", "nli"} <= set(registry.names("scorer"))


def test_building_a_scorer_does_not_load_model_libraries() -> None:
    code = (
        "import sys; from rag.config import Settings; from rag.verify.scoring import load_scorer; "
        "load_scorer(Settings(scorer='trained')); "
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


# ------------------------------------------------------------------ windows


def test_sentences() -> None:
    assert sentences("One here. Two there! Three? 4 is a number.") == [
        "One here.",
        "Two there!",
        "Three?",
        "4 is a number.",
    ]


def test_short_premise_is_one_window() -> None:
    assert split_windows("A short premise. Two sentences.", 50) == ["A short premise. Two sentences."]


def test_windows_bound_length_overlap_and_cover_every_sentence() -> None:
    premise = long_premise(3000)
    windows = split_windows(premise, 120)
    assert len(windows) > 20
    assert all(len(w.split()) <= 120 for w in windows)
    assert sum(NEEDLE in w for w in windows) >= 1
    # consecutive windows share a sentence
    assert windows[0].split(". ")[-1] in windows[1]
    assert set(sentences(premise)) == {s for w in windows for s in sentences(w)}


def test_overlong_sentence_is_cut_into_pieces() -> None:
    windows = split_windows(" ".join(["word"] * 500), 100)
    assert len(windows) >= 5 and all(len(w.split()) <= 100 for w in windows)


def test_score_windowed_takes_the_max_and_batches_once() -> None:
    calls: list[int] = []

    def lexical(pairs: list[tuple[str, str]]) -> list[float]:
        calls.append(len(pairs))
        return [float(NEEDLE in premise) for premise, _ in pairs]

    scores = score_windowed([(long_premise(), "claim"), (FILLER, "claim")], lexical, 150)
    assert scores == [1.0, 0.0]
    assert len(calls) == 1 and calls[0] > 2


# ------------------------------------------------------------------ nli loader (tiny random model)


WORDS = ["the", "a", "lighthouse", "was", "automated", "in", "1987", "is", "not"]


@pytest.fixture(scope="module")
def tiny_nli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT NLI model with 3 labels and a 14-token vocabulary, saved like a hub model."""
    labels = {0: "contradiction", 1: "entailment", 2: "neutral"}
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-nli"), WORDS, num_labels=3, id2label=labels)


def test_nli_scorer_loads_a_local_model_and_conforms(tiny_nli: Path) -> None:
    scorer = load_scorer(Settings(scorer="nli", nli_model=str(tiny_nli)))
    assert isinstance(scorer, SupportScorer) and scorer.name == "nli"
    assert scorer.threshold == 0.5
    assert isinstance(scorer, NliScorer) and scorer.classifier.index == 1
    scores = scorer.score_batch([("the lighthouse was automated in 1987", "the lighthouse was automated")] * 2)
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] == pytest.approx(scores[1])
    assert scorer.score("the lighthouse", "a lighthouse") == pytest.approx(
        scorer.score_batch([("the lighthouse", "a lighthouse")])[0]
    )


def test_nli_probability_is_the_entailment_softmax(tiny_nli: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    classifier = SequenceClassifier(tiny_nli, max_length=64)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_nli).eval()
    inputs = classifier.tokenizer(["the lighthouse"], ["is not"], return_tensors="pt")
    with torch.inference_mode():
        expected = torch.softmax(model(**inputs).logits, -1)[0, 1].item()
    scorer = NliScorer(classifier)
    assert scorer.score("the lighthouse", "is not") == pytest.approx(expected, abs=1e-5)


def test_int8_onnx_classifier_agrees_with_pytorch(
    tiny_nli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path))
    pairs = [("the lighthouse was automated in 1987", "the lighthouse"), ("is not", "the lighthouse was")]
    exact = SequenceClassifier(tiny_nli, max_length=64).log_odds(pairs)
    quantized = SequenceClassifier(tiny_nli, max_length=64, quantize=True)
    assert not (tmp_path / "onnx").exists(), "building a classifier is light: nothing is exported yet"
    quantized.warm_up()
    assert list((tmp_path / "onnx").glob("*/model.onnx")), "the export is cached under RAG_CACHE_DIR"
    assert quantized.log_odds(pairs) == pytest.approx(exact, abs=0.05)


def test_nli_threshold_override(tiny_nli: Path) -> None:
    scorer = build_nli(Settings(nli_model=str(tiny_nli), support_threshold=0.8))
    assert scorer.threshold == 0.8


def test_missing_nli_model_is_a_one_line_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(ModelNotFoundError) as caught:
        build_nli(Settings(nli_model=missing)).warm_up()
    assert "nli_model" in str(caught.value) and missing in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_unset_nli_model_is_a_one_line_error() -> None:
    with pytest.raises(ModelNotFoundError, match="nli_model"):
        build_nli(Settings(scorer="nli"))


@pytest.mark.parametrize(
    ("id2label", "index"),
    [
        ({0: "contradiction", 1: "entailment", 2: "neutral"}, 1),
        ({0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}, 0),
        ({0: "not_supported", 1: "supported"}, 1),
        ({0: "LABEL_0", 1: "LABEL_1"}, 1),
        ({0: "consistent", 1: "hallucinated"}, 0),
    ],
)
def test_entailment_index(id2label: dict[int, str], index: int) -> None:
    assert entailment_index(id2label) == index


def test_entailment_index_rejects_unknown_three_way_labels() -> None:
    with pytest.raises(ValueError, match="no entailment"):
        entailment_index({0: "a", 1: "b", 2: "c"})


# ------------------------------------------------------------------ heuristic


def test_heuristic_features_catch_numbers_names_and_negation() -> None:
    premise = "The lighthouse at Carrow Point was automated in 1987."
    same = features(premise, "Carrow Point's lighthouse was automated in 1987.", premise, 0.9)
    number = features(premise, "The lighthouse at Carrow Point was automated in 1991.", premise, 0.9)
    name = features(premise, "The lighthouse at Dunmore Point was automated in 1987.", premise, 0.9)
    negated = features(premise, "The lighthouse at Carrow Point was not automated in 1987.", premise, 0.9)
    assert same["numbers"] == 0.0 and number["numbers"] == 1.0
    assert same["entities"] == 0.0 and name["entities"] == 0.5
    assert same["negation"] == 0.0 and negated["negation"] == 1.0
    assert same["coverage"] == 1.0
    assert combine(same) > max(combine(number), combine(name), combine(negated))


def test_select_evidence_keeps_the_claims_sentences_in_order_within_budget() -> None:
    premise = long_premise(3000, needle_at=0.8)
    selected = select_evidence(premise, "When was the lighthouse at Carrow Point automated?", 40)
    assert NEEDLE in selected and len(selected.split()) <= 40
    assert select_evidence(NEEDLE, "anything", 40) == NEEDLE  # a premise that fits is unchanged
    two = f"{NEEDLE} {FILLER} The lighthouse keeper retired in 1990."
    chosen = select_evidence(two, "The lighthouse keeper at Carrow Point retired.", 25)
    assert chosen == f"{NEEDLE} The lighthouse keeper retired in 1990.", "premise order is kept"
    assert select_evidence(FILLER * 3, "harbour budget", 5) == " ".join(FILLER.split()[:5])
    assert select_evidence(premise, NEEDLE, 100) == NEEDLE, "sentences sharing no content word are left out"


def test_lexical_features_need_no_model_and_match_the_full_ones() -> None:
    premise = f"{FILLER} The lighthouse at Carrow Point was not automated until 1987."
    claim = "The lighthouse at Carrow Point was automated in 1991."
    [lexical] = HeuristicScorer().lexical_feature_batch([(premise, claim)])
    full = features(premise, claim, premise.split(". ")[1], 0.5)
    assert set(lexical) == set(MODEL_FREE_FEATURES) and set(full) == {"similarity", *MODEL_FREE_FEATURES}
    assert lexical == {name: full[name] for name in MODEL_FREE_FEATURES}
    assert lexical["numbers"] == 1.0 and lexical["negation"] == 1.0


def test_window_coverage_counts_the_claim_words_of_one_window_only() -> None:
    # a WiCE-style partly supported claim: each half of its words is on the page, but never in one place
    opened = "The mill at Ashcombe opened in 1894."
    sold = "The mill was sold to the Farrow family."
    page = " ".join([opened] + [FILLER] * 12 + [sold])
    claim = "The mill at Ashcombe opened in 1894 and was sold to the Farrow family."
    [values] = HeuristicScorer().lexical_feature_batch([(page, claim)])
    assert values["coverage"] == 1.0 and values["window_coverage"] < 0.7
    assert window_coverage(f"{opened} {sold}", claim) == 1.0  # one window holds both halves
    assert window_coverage(page, "The mill at Ashcombe opened in 1894.") == 1.0


def test_heuristic_threshold_override_without_loading_a_model() -> None:
    assert build_heuristic(Settings(scorer="heuristic", support_threshold=0.3)).threshold == 0.3


@pytest.mark.slow
def test_heuristic_scorer_conforms_and_separates() -> None:
    scorer = load_scorer(Settings(scorer="heuristic"))
    assert isinstance(scorer, SupportScorer) and isinstance(scorer, HeuristicScorer)
    premise = long_premise(3000)
    scores = scorer.score_batch(
        [
            (premise, NEEDLE),
            (premise, "The lighthouse at Carrow Point was automated in 1964."),
            (FILLER, "The airport opened a second runway for cargo flights."),
        ]
    )
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] >= scorer.threshold > max(scores[1:])


@pytest.mark.slow
def test_trained_scorer_copes_with_a_claim_longer_than_its_window() -> None:
    from rag.config import Settings
    from rag.verify.scoring import load_scorer

    scorer = load_scorer(Settings(scorer="trained"))
    claim = "The railway carried slate. " * 200
    [score] = scorer.score_batch([("The railway carried slate.", claim)])
    assert 0.0 <= score <= 1.0


def test_the_second_opinion_is_the_heuristic_at_its_own_threshold_and_can_be_turned_off(monkeypatch) -> None:
    second = load_second_opinion(Settings(support_threshold=0.9))
    assert isinstance(second, HeuristicScorer) and second.threshold == build_heuristic(Settings()).threshold
    assert load_second_opinion(Settings(scorer="heuristic")) is None  # no second opinion from the scorer itself
    monkeypatch.setenv("RAG_GENERATED_SECOND_OPINION", "none")
    assert load_second_opinion(load_settings()) is None


def test_batched_scores_come_back_in_the_order_of_the_pairs() -> None:
    pairs = [("p" * 900, "long"), ("p", "short"), ("p" * 880, "longer"), ("pp", "tiny")]
    calls: list[list[str]] = []

    def run(batch: list[tuple[str, str]]) -> list[float]:
        calls.append(sorted(claim for _, claim in batch))
        return [float(len(premise)) for premise, _ in batch]

    assert batched_by_length(pairs, 2, run) == [900.0, 1.0, 880.0, 2.0]
    assert calls == [["short", "tiny"], ["long", "longer"]]  # short pairs batched apart from long ones


def test_one_pair_a_call_makes_a_score_independent_of_its_neighbours() -> None:
    from rag.verify.trained import MODEL_DIR, Calibration, CrossEncoderVerifier

    shipped = Calibration.load(MODEL_DIR)
    assert shipped.batch_size == 32, "the shipped calibration was fitted on scores batched 32 at a time"
    alone = CrossEncoderVerifier(MODEL_DIR, calibration=Calibration(quantize=True, batch_size=1))
    pair = ("The ferry to the island runs twice a day in summer.", "The ferry runs twice a day.")
    others = [
        ("The lighthouse was automated in 1987 and its keeper moved to the mainland.", "The keeper stayed."),
        ("Tickets are sold at the harbour office.", "Tickets are sold online only."),
    ]
    assert alone.margins([pair])[0] == alone.margins([*others, pair])[-1]
