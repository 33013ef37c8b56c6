"""eval.verifier_eval: loaders for each format, metrics, deterministic splits, summary files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from eval.pairs import LabeledPair, assign_splits, load_pairs
from eval.verifier_eval import (
    auroc,
    balanced_accuracy,
    balanced_accuracy_interval,
    eval_verifier_command,
    evaluate_verifier,
    f1_unsupported,
    main,
)
from rag import registry
from rag.errors import InputError
from tests.conftest import shared_path


class KeywordScorer:
    """Supports a claim when its last word appears in the premise: a transparent stand-in for a model."""

    name = "keyword"
    threshold = 0.5

    def score(self, premise: str, claim: str) -> float:
        return float(claim.rstrip(".").split()[-1].lower() in premise.lower())

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return [self.score(p, c) for p, c in pairs]

    def warm_up(self) -> None:
        pass


def keyword_scorer(settings: object) -> KeywordScorer:
    return KeywordScorer()


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def wice_file(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "wice.jsonl",
        [
            {"claim": "It opened in Paris.", "evidence": ["The shop", "opened in Paris."], "label": "supported"},
            {"claim": "It opened in Rome.", "evidence": ["It opened in Paris."], "label": "partially_supported"},
            {"claim": "It closed in Oslo.", "evidence": ["It opened in Oslo."], "label": "not_supported"},
        ],
    )


@pytest.fixture
def halueval_file(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "halueval.jsonl",
        [
            {"knowledge": "Ada was born in London.", "question": "Where was Ada born?",
             "right_answer": "London", "hallucinated_answer": "Ada was born in Paris"},
            {"knowledge": "The bridge is 300 m long.", "question": "How long is the bridge?",
             "right_answer": "300 m", "hallucinated_answer": "It is 500 m long but spans nothing"},
        ],
    )  # fmt: skip


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"premise": "A cat sat on the mat.", "hypothesis": "A cat sat on the mat.", "label": "entailment"},
            {"premise": "A cat sat on the mat.", "hypothesis": "A dog sat.", "label": "contradiction"},
            {"premise": "A cat sat on the mat.", "hypothesis": "The cat was black.", "label": "neutral"},
            {"premise": "Rain fell.", "hypothesis": "It rained.", "label": "supported"},
            {"premise": "Rain fell.", "hypothesis": "It snowed.", "label": "not_supported"},
        ],
    )


def test_wice_pairs_join_evidence_and_binarise_labels(wice_file: Path) -> None:
    pairs = load_pairs(wice_file, "wice")
    assert [p.label for p in pairs] == [1, 0, 0]
    assert pairs[0].premise == "The shop opened in Paris." and pairs[0].claim == "It opened in Paris."


def test_halueval_items_give_one_supported_and_one_unsupported_pair(halueval_file: Path) -> None:
    pairs = load_pairs(halueval_file, "halueval")
    assert [p.label for p in pairs] == [1, 0, 1, 0]
    assert pairs[0].claim == "Where was Ada born? London"
    assert pairs[1].claim == "Where was Ada born? Ada was born in Paris"
    assert pairs[0].premise == "Ada was born in London."


def test_plain_pairs_map_three_and_two_way_labels(pairs_file: Path) -> None:
    assert [p.label for p in load_pairs(pairs_file, "pairs")] == [1, 0, 0, 1, 0]


def test_bad_inputs_are_one_line_errors(tmp_path: Path, pairs_file: Path) -> None:
    with pytest.raises(InputError, match="unknown format"):
        load_pairs(pairs_file, "csv")
    with pytest.raises(InputError, match="does not exist"):
        load_pairs(tmp_path / "missing.jsonl", "pairs")
    with pytest.raises(InputError, match="'claim'"):
        load_pairs(write_jsonl(tmp_path / "bad.jsonl", [{"premise": "x", "label": "supported"}]), "pairs")


def test_metrics_on_known_values() -> None:
    labels = [1, 1, 0, 0]
    assert balanced_accuracy(labels, [1, 0, 0, 0]) == 0.75
    assert f1_unsupported(labels, [1, 0, 0, 0]) == pytest.approx(0.8)
    assert f1_unsupported(labels, [1, 1, 1, 1]) == 0.0
    assert auroc(labels, [0.9, 0.4, 0.5, 0.1]) == 0.75
    assert auroc(labels, [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert auroc([1, 1], [0.2, 0.3]) is None


def test_balanced_accuracy_interval_holds_the_estimate_and_narrows_with_more_claims() -> None:
    # 70% recall on supported claims, 80% on unsupported ones: balanced accuracy 0.75
    small_labels = [1] * 10 + [0] * 10
    small_decisions = [1] * 7 + [0] * 3 + [0] * 8 + [1] * 2
    low, high = balanced_accuracy_interval(small_labels, small_decisions)
    assert low < balanced_accuracy(small_labels, small_decisions) == 0.75 < high
    big_low, big_high = balanced_accuracy_interval(small_labels * 20, small_decisions * 20)
    assert low < big_low < 0.75 < big_high < high
    assert balanced_accuracy_interval([1, 1], [1, 0]) is None
    perfect = balanced_accuracy_interval(small_labels, small_labels)
    assert perfect == (1.0, 1.0)


def test_splits_are_deterministic_sized_and_order_free() -> None:
    keys = [f"claim {i}" for i in range(100)]
    names = assign_splits(keys, 40, 30)
    assert names.count("heldout") == 40 and names.count("dev") == 30 and names.count("train") == 30
    reversed_names = assign_splits(keys[::-1], 40, 30)[::-1]
    assert names == reversed_names


def test_evaluate_writes_summary_and_scores(wice_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = evaluate_verifier(KeywordScorer(), wice_file, "wice", out)
    # "Paris." supported (1.0), "Rome." missing (0.0), "Oslo." present in evidence (1.0, a false support)
    assert summary["n"] == 3 and summary["balanced_accuracy"] == 0.75
    assert summary["f1_unsupported"] == pytest.approx(2 / 3)
    assert summary["auroc"] == 0.75 and summary["threshold"] == 0.5
    assert summary["pairs_per_second"] > 0
    low, high = summary["balanced_accuracy_ci95"]
    assert 0.0 <= low <= 0.75 <= high <= 1.0
    written = json.loads((out / "summary.json").read_text())
    for key in ("n", "balanced_accuracy", "f1_unsupported", "auroc", "threshold", "pairs_per_second"):
        assert written[key] == summary[key]
    lines = (out / "scores.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["wice-0", "wice-1", "wice-2"]


def test_command_and_main_use_the_named_scorer(
    halueval_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.STRATEGIES["scorer"], "heuristic", "tests.test_verifier_eval:keyword_scorer")
    summary = eval_verifier_command(halueval_file, "halueval", None, "heuristic", as_json=True)
    assert summary["n"] == 4 and summary["balanced_accuracy"] == 1.0
    assert json.loads(capsys.readouterr().out)["scorer"] == "keyword"
    argv = ["--dataset", str(halueval_file), "--format", "halueval", "--scorer", "heuristic"]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 0
    assert "balanced accuracy 1.000" in capsys.readouterr().out
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["n"] == 4


@pytest.mark.shared
def test_heldout_splits_of_the_shared_data_are_fixed_and_disjoint() -> None:
    wice = shared_path("wice/claims_dev.jsonl")
    halueval = shared_path("halueval/qa_dev.jsonl")
    wice_held = load_pairs(wice, "wice", "heldout")
    assert len(wice_held) == 140 and len(load_pairs(wice, "wice", "dev")) == 105
    halu_held = {p.id for p in load_pairs(halueval, "halueval", "heldout")}
    assert len(halu_held) == 2000
    assert not halu_held & {p.id for p in load_pairs(halueval, "halueval", "train")}
    assert {p.id for p in wice_held} == {p.id for p in load_pairs(wice, "wice", "heldout")}


@pytest.mark.shared
@pytest.mark.slow
def test_training_data_never_contains_heldout_items() -> None:
    from training.verifier.data import training_set

    wice = shared_path("wice/claims_dev.jsonl")
    halueval = shared_path("halueval/qa_dev.jsonl")
    held_claims = {p.claim for p in load_pairs(wice, "wice", "heldout") + load_pairs(wice, "wice", "dev")}
    held_halu = {p.claim for p in load_pairs(halueval, "halueval", "heldout")}
    held_halu |= {p.claim for p in load_pairs(halueval, "halueval", "dev")}
    train = training_set(wice.parent.parent, seed=0)
    assert sum(p.id.startswith("wice") for p in train) > 50
    assert not {p.claim for p in train} & (held_claims | held_halu)
    continued = training_set(wice.parent.parent, seed=0, replay=500, wice_repeat=2, window_repeat=1)
    wice_train = sum(p.id.startswith("wice") for p in train)
    assert sum(p.id.startswith("wice") for p in continued) >= 2 * wice_train  # the WiCE train pairs, twice more
    assert sum(p.id.startswith(("climate-", "needle-")) for p in continued) > 1000  # the in-context windows
    assert not {p.claim for p in continued} & (held_claims | held_halu)


def test_the_cheapest_variant_within_noise_of_the_best_is_chosen() -> None:
    from training.verifier.calibrate import GOOD_ENOUGH, VARIANTS, cheapest_good_enough

    def scores(**values: float) -> dict[str, dict[str, float]]:
        return {v: {"mean_balanced_accuracy": values.get(v.replace("+", "_"), 0.5)} for v in VARIANTS}

    close = scores(cross_encoder_lexical=0.719, cross_encoder_features=0.72)
    assert cheapest_good_enough(close) == "cross_encoder+lexical"
    clear = scores(cross_encoder_lexical=0.70, cross_encoder_features=0.70 + 2 * GOOD_ENOUGH)
    assert cheapest_good_enough(clear) == "cross_encoder+features"


def test_rule_made_hard_negatives_change_what_they_claim_to() -> None:
    import random

    from training.verifier.data import change_number, negate, swap_entity

    pair = LabeledPair("x", "The mill at Ashcombe opened in 1894.", "The mill at Ashcombe opened in 1894.", 1)
    rng = random.Random(0)
    changed = change_number(pair, rng, [])
    assert changed is not None and "1894" not in changed and changed.startswith("The mill at Ashcombe opened in ")
    assert swap_entity(pair, rng, ["Ashcombe", "Merrow"]) == "The mill at Merrow opened in 1894."
    assert swap_entity(pair, rng, ["Ashcombe"]) is None  # no name absent from the premise to swap in
    assert negate(pair, rng, []) is None  # no auxiliary verb
    assert negate(LabeledPair("y", "p", "The mill was busy.", 1), rng, []) == "The mill was not busy."
