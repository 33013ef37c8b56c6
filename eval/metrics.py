"""Per-item evaluation metrics and their bootstrap aggregation.

Every metric here is a pure function of one item (its gold data, the retrieved passages, one generated
answer) and a support scorer, so the raw generator answer and the verified answer are measured by the
very same code. Per-item values are floats in [0, 1] or None when the metric does not apply to the item
(None is left out of the mean and of its confidence interval, and the aggregate's `n` says how many items
counted).

Definitions (`supports(premise, claim)` = scorer.score(premise, claim) >= threshold):
- faithfulness (verifier): share of the answer's sentences that at least one retrieved passage supports.
- citation recall (ALCE): a sentence scores 1 when the concatenation of the passages it cites supports it,
  0 when it cites nothing or they do not; the item's value is the mean over its sentences.
- citation precision (ALCE): a citation is relevant when the sentence's citations jointly support it and
  the citation either supports the sentence alone or is needed (the other citations without it do not
  support the sentence); it is irrelevant otherwise, i.e. when the joint set fails (as in ALCE's reference
  implementation) or when it does not support the sentence alone and the others still do. Item value =
  relevant / all citations of the item, 0 when the answer has sentences but cites nothing. Duplicate
  citations of a sentence count once.
- answer F1 / ROUGE-L: SQuAD token F1 after SQuAD normalisation, and ROUGE-L F-measure (rouge-score with
  stemming, as ragas' RougeScore computes it), each the max over the gold answers. Unanswerable items
  score 1 when the system abstained and 0 when it answered; answerable items score 0 when it abstained.
- answer correctness (the figure the verifier does not decide): an answerable item scores 1 when the answer did
  not abstain, cites a gold document (when the item names any) and states the gold answer: it contains a short
  gold answer (eight words or fewer), or one of its sentences matches a gold sentence or a gold answer (the same
  words, token F1 >= 0.6, or one containing the other, four words or more). An unanswerable item scores 1 when
  the answer abstained.
- gold coverage: for answerable items with gold sentences, the share of gold sentences g such that some
  passage cited by the answer contains g (after SQuAD normalisation) or supports g. 0 when the answer
  abstained or cites nothing.
- retrieval recall@k: share of the item's distinct gold doc ids among the doc ids of the top-k passages;
  MRR: 1 / rank of the first passage from a gold document (0 when none). Only items with gold doc ids.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from rag.records import Answer, Claim
from rag.verify.scoring import SupportScorer

CITATION_JOINER = "\n"
RECALL_KS = (1, 5, 10)
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95


class Support:
    """Memoised support decisions for one item: every (premise, claim) pair is scored at most once, and the
    pairs the verifier already scored for the answer are read from it (`known`), not scored again."""

    def __init__(self, scorer: SupportScorer, threshold: float) -> None:
        self.scorer = scorer
        self.threshold = threshold
        self._memo: dict[tuple[str, str], float] = {}

    def known(self, answer: Answer) -> Support:
        """Take the verifier's scores of the answer's sentences against the passages the generator read (those it
        did not read, None, are scored here when asked for)."""
        premises = [p.chunk.text for p in answer.passages]
        for sentence in (*answer.sentences, *answer.removed_sentences):
            if len(sentence.support_by_passage) == len(premises):
                for premise, score in zip(premises, sentence.support_by_passage, strict=True):
                    if score is not None:
                        self._memo.setdefault((premise, sentence.text), score)
        return self

    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        missing = list(dict.fromkeys(p for p in pairs if p not in self._memo))
        if missing:
            self._memo.update(zip(missing, self.scorer.score_batch(missing), strict=True))
        return [self._memo[p] for p in pairs]

    def score(self, premise: str, claim: str) -> float:
        return self.scores([(premise, claim)])[0]

    def supports(self, premise: str, claim: str) -> bool:
        return self.score(premise, claim) >= self.threshold


# ---------------------------------------------------------------------------------------------- helpers


def mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def _cited_text(claim: Claim, passages: Sequence[str], without: int | None = None) -> str:
    return CITATION_JOINER.join(passages[n - 1] for n in claim.citations if n != without and 1 <= n <= len(passages))


# ---------------------------------------------------------------------------------------------- faithfulness


def sentence_support(claims: Sequence[Claim], passages: Sequence[str], support: Support) -> list[float]:
    """Each sentence's best support score over all retrieved passages (0 when there are none)."""
    pairs = [(p, c.text) for c in claims for p in passages]
    scores = support.scores(pairs)
    width = len(passages)
    return [max(scores[i * width : (i + 1) * width], default=0.0) for i in range(len(claims))]


def verifier_faithfulness(claims: Sequence[Claim], passages: Sequence[str], support: Support) -> float | None:
    """Share of sentences supported by any retrieved passage; None for an answer without sentences."""
    if not claims:
        return None
    return mean(float(s >= support.threshold) for s in sentence_support(claims, passages, support))


# ---------------------------------------------------------------------------------------------- citations


def sentence_citation_recall(claim: Claim, passages: Sequence[str], support: Support) -> float:
    """1 when the sentence's cited passages, concatenated, support it; 0 when they do not or it cites none."""
    cited = _cited_text(claim, passages)
    return float(bool(cited) and support.supports(cited, claim.text))


def relevant_citations(claim: Claim, passages: Sequence[str], support: Support) -> int:
    """How many of the sentence's (deduplicated) citations are relevant, as ALCE decides it."""
    if not sentence_citation_recall(claim, passages, support):
        return 0
    if len(claim.citations) == 1:
        return 1
    relevant = 0
    for n in claim.citations:
        alone = support.supports(passages[n - 1], claim.text)
        others = _cited_text(claim, passages, without=n)
        relevant += alone or not support.supports(others, claim.text)
    return relevant


def citation_recall(claims: Sequence[Claim], passages: Sequence[str], support: Support) -> float | None:
    if not claims:
        return None
    return mean(sentence_citation_recall(c, passages, support) for c in claims)


def citation_precision(claims: Sequence[Claim], passages: Sequence[str], support: Support) -> float | None:
    if not claims:
        return None
    total = sum(len(c.citations) for c in claims)
    if total == 0:
        return 0.0
    return sum(relevant_citations(c, passages, support) for c in claims) / total


# ---------------------------------------------------------------------------------------------- answers


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 between one prediction and one gold answer."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


@cache
def _rouge() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, gold: str) -> float:
    """ROUGE-L F-measure (rouge-score, stemmed: the computation ragas' RougeScore wraps)."""
    if not prediction.strip() or not gold.strip():
        return float(prediction.strip() == gold.strip())
    return float(_rouge().score(gold, prediction)["rougeL"].fmeasure)


def answer_score(measure: Callable[[str, str], float], prediction: str, golds: Sequence[str], abstained: bool) -> float:
    """Max of `measure` over gold answers; abstention is right (1) exactly when there is no gold answer."""
    if not golds:
        return float(abstained)
    if abstained:
        return 0.0
    return max(measure(prediction, g) for g in golds)


def matches(text: str, golds: Sequence[str]) -> bool:
    """`text` says the same as one of `golds`: the same words, token F1 >= 0.6, or one containing the other (both
    at least four words)."""
    words = normalize_answer(text)
    for gold in golds:
        expected = normalize_answer(gold)
        if words == expected or token_f1(text, gold) >= 0.6:
            return True
        if len(words.split()) >= 4 and len(expected.split()) >= 4 and (words in expected or expected in words):
            return True
    return False


def answer_correct(
    sentences: Sequence[str],
    abstained: bool,
    cited_docs: Sequence[str],
    item_answers: Sequence[str],
    gold_sentences: Sequence[str],
    gold_docs: Sequence[str],
) -> float:
    """1 when the answer is right (see the module docstring), else 0."""
    if not item_answers:
        return float(abstained)
    if abstained or (gold_docs and not set(cited_docs) & set(gold_docs)):
        return 0.0
    text = normalize_answer(" ".join(sentences))
    short = [a for a in item_answers if 0 < len(normalize_answer(a).split()) <= 8]
    if any(normalize_answer(a) in text for a in short):
        return 1.0
    return float(any(matches(s, [*gold_sentences, *item_answers]) for s in sentences))


def gold_coverage(
    gold_sentences: Sequence[str], cited_passages: Sequence[str], support: Support, abstained: bool
) -> float | None:
    """Share of gold sentences contained in or supported by a cited passage (see module docstring)."""
    if not gold_sentences:
        return None
    if abstained or not cited_passages:
        return 0.0
    normalized = [normalize_answer(p) for p in cited_passages]

    def covered(gold: str) -> bool:
        needle = normalize_answer(gold)
        return any(needle and needle in p for p in normalized) or any(support.supports(p, gold) for p in cited_passages)

    return mean(float(covered(g)) for g in gold_sentences)


# ---------------------------------------------------------------------------------------------- retrieval


def recall_at_k(retrieved_doc_ids: Sequence[str], gold_doc_ids: Sequence[str], k: int) -> float | None:
    gold = set(gold_doc_ids)
    if not gold:
        return None
    return len(gold & set(retrieved_doc_ids[:k])) / len(gold)


def reciprocal_rank(retrieved_doc_ids: Sequence[str], gold_doc_ids: Sequence[str]) -> float | None:
    gold = set(gold_doc_ids)
    if not gold:
        return None
    return next((1.0 / rank for rank, d in enumerate(retrieved_doc_ids, start=1) if d in gold), 0.0)


def retrieval_metrics(
    retrieved_doc_ids: Sequence[str], gold_doc_ids: Sequence[str], depth: int
) -> dict[str, float | None]:
    """recall@k for every k in RECALL_KS up to the search depth (how many passages were asked for), and MRR."""
    values: dict[str, float | None] = {
        f"retrieval.recall@{k}": recall_at_k(retrieved_doc_ids, gold_doc_ids, k) for k in RECALL_KS if k <= depth
    }
    values["retrieval.mrr"] = reciprocal_rank(retrieved_doc_ids, gold_doc_ids)
    return values


# ---------------------------------------------------------------------------------------------- aggregation


@dataclass(frozen=True, slots=True)
class Aggregate:
    """A metric's mean over the items it applies to, with a percentile-bootstrap confidence interval."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        bounds = {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}
        return {**{k: None if v is None else round(v, 6) for k, v in bounds.items()}, "n": self.n}


def present(values: Iterable[float | None]) -> list[float]:
    """The values that apply (None and NaN left out)."""
    return [float(v) for v in values if v is not None and not math.isnan(v)]


def resampled_means(data: Any, rng: Any, resamples: int) -> Any:
    return data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)


def percentile_interval(stats: Any, confidence: float) -> tuple[float, float]:
    import numpy as np

    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(
    values: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of the mean (None, None for no values)."""
    import numpy as np

    if not values:
        return None, None
    rng = np.random.default_rng(seed)
    return percentile_interval(resampled_means(np.asarray(values, dtype=float), rng, resamples), confidence)


def aggregate(values: Iterable[float | None], seed: int = 0) -> Aggregate:
    """Mean and 95% bootstrap CI over the items where the metric applies."""
    kept = present(values)
    if not kept:
        return Aggregate(None, None, None, 0)
    low, high = bootstrap_ci(kept, seed=seed)
    return Aggregate(sum(kept) / len(kept), low, high, len(kept))


def paired_delta(a: Sequence[float], b: Sequence[float], seed: int = 0) -> Aggregate:
    """Mean of b - a over the same items (paired), with its bootstrap CI."""
    return aggregate([y - x for x, y in zip(a, b, strict=True)], seed=seed)


def unpaired_delta(a: Sequence[float], b: Sequence[float], seed: int = 0) -> Aggregate:
    """mean(b) - mean(a) for independent samples; each side is resampled on its own."""
    import numpy as np

    if not a or not b:
        return Aggregate(None, None, None, 0)
    rng = np.random.default_rng(seed)
    stats = resampled_means(np.asarray(b, float), rng, BOOTSTRAP_RESAMPLES) - resampled_means(
        np.asarray(a, float), rng, BOOTSTRAP_RESAMPLES
    )
    low, high = percentile_interval(stats, CONFIDENCE)
    return Aggregate(sum(b) / len(b) - sum(a) / len(a), low, high, min(len(a), len(b)))
