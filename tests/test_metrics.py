"""Evaluation metrics on hand-made cases whose values are computed by hand.

The scorer is a deterministic word-overlap stand-in: a premise supports a claim exactly when it contains
every word of the claim (score = share of the claim's words found in the premise, threshold 1.0).
"""

from __future__ import annotations

import math

import pytest

from eval.metrics import (
    Support,
    aggregate,
    answer_score,
    bootstrap_ci,
    citation_precision,
    citation_recall,
    gold_coverage,
    normalize_answer,
    paired_delta,
    recall_at_k,
    reciprocal_rank,
    relevant_citations,
    retrieval_metrics,
    rouge_l,
    sentence_citation_recall,
    token_f1,
    unpaired_delta,
    verifier_faithfulness,
)
from rag.fakes import OverlapScorer
from rag.records import Claim
from rag.verify.claims import parse_citations

PASSAGES = [
    "The line opened in 1894.",  # 1
    "It closed in 1962.",  # 2
    "The line opened in 1894 and closed in 1962.",  # 3
    "Cats sleep a lot.",  # 4
]


@pytest.fixture
def support() -> Support:
    return Support(OverlapScorer(threshold=1.0), 1.0)


def test_support_memoises_pairs(support: Support) -> None:
    support.scores([("a b", "a"), ("a b", "a")])
    support.score("a b", "a")
    assert support.scorer.pairs == 1
    assert support.supports("a b", "a b") and not support.supports("a", "a b")


# ---------------------------------------------------------------------------------------------- faithfulness


def test_faithfulness_is_share_of_sentences_supported_by_any_passage(support: Support) -> None:
    claims = [Claim("line opened 1894"), Claim("closed 1962"), Claim("opened in Paris")]
    assert verifier_faithfulness(claims, PASSAGES, support) == pytest.approx(2 / 3)


def test_faithfulness_ignores_citations_and_is_none_without_sentences(support: Support) -> None:
    assert verifier_faithfulness([Claim("cats sleep", (1,))], PASSAGES, support) == 1.0
    assert verifier_faithfulness([], PASSAGES, support) is None
    assert verifier_faithfulness([Claim("cats sleep")], [], support) == 0.0


# ---------------------------------------------------------------------------------------------- citations


def test_citation_recall_joint_support_and_no_citation(support: Support) -> None:
    assert sentence_citation_recall(Claim("line opened 1894", (1,)), PASSAGES, support) == 1.0
    # neither passage alone, but the two together contain every word
    assert sentence_citation_recall(Claim("line opened 1894 closed 1962", (1, 2)), PASSAGES, support) == 1.0
    assert sentence_citation_recall(Claim("line opened 1894", (4,)), PASSAGES, support) == 0.0
    assert sentence_citation_recall(Claim("line opened 1894"), PASSAGES, support) == 0.0


def test_relevant_citations_follow_alce(support: Support) -> None:
    # both needed: neither supports alone and neither is redundant
    assert relevant_citations(Claim("line opened 1894 closed 1962", (1, 2)), PASSAGES, support) == 2
    # 4 does not support alone and 1 still supports without it -> irrelevant
    assert relevant_citations(Claim("line opened 1894", (1, 4)), PASSAGES, support) == 1
    # both support alone -> both relevant even though each is redundant
    assert relevant_citations(Claim("line opened 1894", (3, 1)), PASSAGES, support) == 2
    # joint set fails -> no citation is relevant (ALCE reference implementation)
    assert relevant_citations(Claim("opened 1894 in Paris", (1, 2)), PASSAGES, support) == 0
    assert relevant_citations(Claim("line opened 1894", (1,)), PASSAGES, support) == 1


def test_item_citation_recall_and_precision(support: Support) -> None:
    claims = [
        Claim("line opened 1894", (1,)),  # recall 1, 1/1 relevant
        Claim("line opened 1894", (1, 4)),  # recall 1, 1/2 relevant
        Claim("cats sleep"),  # recall 0, no citations
    ]
    assert citation_recall(claims, PASSAGES, support) == pytest.approx(2 / 3)
    assert citation_precision(claims, PASSAGES, support) == pytest.approx(2 / 3)


def test_duplicate_citations_count_once(support: Support) -> None:
    [claim] = parse_citations("line opened 1894 [1][1][4] [1].", n_sources=4)
    assert claim.citations == (1, 4)
    assert citation_precision([claim], PASSAGES, support) == pytest.approx(1 / 2)


def test_citation_metrics_without_citations_or_sentences(support: Support) -> None:
    uncited = [Claim("line opened 1894"), Claim("closed 1962")]
    assert citation_recall(uncited, PASSAGES, support) == 0.0
    assert citation_precision(uncited, PASSAGES, support) == 0.0
    assert citation_recall([], PASSAGES, support) is None
    assert citation_precision([], PASSAGES, support) is None


def test_citation_to_missing_passage_does_not_crash(support: Support) -> None:
    assert sentence_citation_recall(Claim("line opened 1894", (9,)), PASSAGES, support) == 0.0


# ---------------------------------------------------------------------------------------------- answers


def test_squad_normalisation_and_token_f1() -> None:
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    # pred {cat, sat}, gold {cat, sat, down}: P = 1, R = 2/3 -> F1 = 0.8
    assert token_f1("the cat sat", "cat sat down") == pytest.approx(0.8)
    assert token_f1("dog", "cat") == 0.0
    assert token_f1("", "") == 1.0
    assert token_f1("", "cat") == 0.0


def test_rouge_l_is_lcs_f_measure() -> None:
    # LCS(a b x d, a b c d) = 3 tokens: P = R = 3/4
    assert rouge_l("a b c d", "a b x d") == pytest.approx(0.75)
    assert rouge_l("", "a") == 0.0


def test_answer_score_max_over_golds_and_abstention() -> None:
    assert answer_score(token_f1, "cat sat", ["dog", "cat sat down"], abstained=False) == pytest.approx(0.8)
    assert answer_score(token_f1, "", [], abstained=True) == 1.0  # abstaining on unanswerable is right
    assert answer_score(token_f1, "the cat", [], abstained=False) == 0.0
    assert answer_score(token_f1, "", ["cat"], abstained=True) == 0.0


def test_gold_coverage(support: Support) -> None:
    golds = ["The line opened in 1894.", "In 1962 the line closed.", "It had ten stations."]
    # first: substring of a cited passage; second: supported (all words present) by passage 3; third: neither
    assert gold_coverage(golds, [PASSAGES[0], PASSAGES[2]], support, False) == pytest.approx(2 / 3)
    assert gold_coverage(golds, [PASSAGES[3]], support, False) == 0.0
    assert gold_coverage(golds, [PASSAGES[0]], support, True) == 0.0
    assert gold_coverage(golds, [], support, False) == 0.0
    assert gold_coverage([], PASSAGES, support, False) is None


# ---------------------------------------------------------------------------------------------- retrieval


def test_recall_at_k_and_mrr() -> None:
    docs = ["a", "b", "a", "c", "d", "e"]
    assert recall_at_k(docs, ["c", "x"], 1) == 0.0
    assert recall_at_k(docs, ["c", "x"], 5) == 0.5
    assert recall_at_k(docs, ["a", "a"], 1) == 1.0
    assert reciprocal_rank(docs, ["c", "x"]) == 0.25
    assert reciprocal_rank(docs, ["x"]) == 0.0
    assert recall_at_k(docs, [], 5) is None and reciprocal_rank(docs, []) is None


def test_retrieval_metrics_only_for_reached_depths() -> None:
    values = retrieval_metrics(["a", "b"], ["b"], depth=5)
    assert values == {"retrieval.recall@1": 0.0, "retrieval.recall@5": 1.0, "retrieval.mrr": 0.5}


# ---------------------------------------------------------------------------------------------- aggregation


def test_aggregate_skips_none_and_nan_and_brackets_the_mean() -> None:
    values = [1.0, 0.0, 1.0, 1.0, None, math.nan, 0.0, 1.0]
    result = aggregate(values)
    assert result.n == 6
    assert result.value == pytest.approx(4 / 6)
    assert result.ci_low is not None and result.ci_high is not None
    assert 0.0 <= result.ci_low < result.value < result.ci_high <= 1.0


def test_aggregate_of_nothing_and_of_constants() -> None:
    assert aggregate([None, None]).to_dict() == {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    constant = aggregate([0.5] * 10)
    assert constant.ci_low == constant.ci_high == 0.5
    assert bootstrap_ci([]) == (None, None)


def test_bootstrap_ci_narrows_with_more_data() -> None:
    small = bootstrap_ci([0.0, 1.0] * 5)
    large = bootstrap_ci([0.0, 1.0] * 200)
    assert (large[1] - large[0]) < (small[1] - small[0])


def test_deltas() -> None:
    paired = paired_delta([0.0, 0.5, 1.0], [0.5, 1.0, 1.0])
    assert paired.value == pytest.approx(1 / 3) and paired.n == 3
    unpaired = unpaired_delta([0.0] * 5, [1.0] * 5)
    assert unpaired.value == 1.0 and unpaired.ci_low == unpaired.ci_high == 1.0
    assert unpaired_delta([], [1.0]).value is None
