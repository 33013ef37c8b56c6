"""Measuring one item of an eval set: retrieve and answer once through the Answerer, then score both answer
variants (raw and verified) with the same metrics and record what was seen.

The record (one line of items.jsonl) holds the retrieved passages, the Answer, each variant's sentences with
their support and citation judgements, and the metric values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eval.datasets import EvalItem
from eval.metrics import (
    Support,
    answer_correct,
    answer_score,
    citation_precision,
    citation_recall,
    gold_coverage,
    relevant_citations,
    retrieval_metrics,
    rouge_l,
    sentence_citation_recall,
    sentence_support,
    token_f1,
    verifier_faithfulness,
)
from eval.variants import Variant, raw_variant, verified_variant
from rag.errors import RagError
from rag.pipeline import Answerer
from rag.records import Answer, Passage
from rag.verify.scoring import SupportScorer

JUDGED_STATUSES = ("ok", "parse_error", "no_statements")


@dataclass
class Evaluator:
    """What measuring one item needs: the answerer, the support scorer and threshold, the optional ragas judge.

    `search_depth` passages are retrieved once per item (for recall@10 with top_k 5); the answer is generated
    from the best top_k of them.
    """

    answerer: Answerer
    scorer: SupportScorer | None
    threshold: float
    judge: Any | None
    retrieval_only: bool
    search_depth: int

    def evaluate(self, item: EvalItem) -> dict[str, Any]:
        record = item_base(item)
        try:
            if self.retrieval_only:
                self._retrieval(item, self.answerer.search(item.question, k=self.search_depth), record)
            else:
                answer = self.answerer.ask(item.question, depth=self.search_depth)
                self._retrieval(item, list(answer.retrieved), record)
                self._generated(item, answer, record)
        except RagError as error:
            record["error"] = str(error)
        return record

    def _retrieval(self, item: EvalItem, passages: Sequence[Passage], record: dict[str, Any]) -> None:
        record["retrieved"] = [p.to_dict(n) for n, p in enumerate(passages, start=1)]
        doc_ids = [p.chunk.doc_id for p in passages]
        record["metrics"] = retrieval_metrics(doc_ids, item.gold_doc_ids, self.search_depth)

    def _generated(self, item: EvalItem, answer: Answer, record: dict[str, Any]) -> None:
        assert self.scorer is not None
        support = Support(self.scorer, self.threshold).known(answer)
        contexts = [p.chunk.text for p in answer.passages]
        record["answer"] = answer.to_dict()
        record["threshold"] = self.threshold
        judged: dict[str, dict[str, Any]] = {}
        for variant in (verified_variant(answer), raw_variant(answer)):
            outcome = judged.get(variant.text) or self._ragas(item.question, variant, contexts)
            judged[variant.text] = outcome
            values, sentences = measure_variant(item, variant, contexts, support, outcome)
            cited = [answer.passages[n - 1].chunk.doc_id for c in variant.claims for n in c.citations]
            values["answer.correct"] = answer_correct(
                [c.text for c in variant.claims],
                variant.abstained,
                cited,
                item.answers,
                item.gold_sentences,
                item.gold_doc_ids,
            )
            record["metrics"].update({variant.prefix + k: v for k, v in values.items()})
            record[variant.name] = {"text": variant.text, "abstained": variant.abstained, "sentences": sentences}
            record[variant.name]["ragas"] = outcome

    def _ragas(self, question: str, variant: Variant, contexts: Sequence[str]) -> dict[str, Any]:
        if self.judge is None:
            return {"score": None, "status": "skipped", "detail": "no judge"}
        return self.judge.score(question, variant.text, contexts).to_dict()


def item_base(item: EvalItem) -> dict[str, Any]:
    return {**item.to_dict(), "answerable": item.answerable, "error": None, "metrics": {}}


def measure_variant(
    item: EvalItem, variant: Variant, contexts: Sequence[str], support: Support, ragas: dict[str, Any]
) -> tuple[dict[str, float | None], list[dict[str, Any]]]:
    """Every generated metric of one answer variant, and its per-sentence judgements."""
    claims = variant.claims
    cited = sorted({n for c in claims for n in c.citations})
    refused = float(variant.abstained)
    values: dict[str, float | None] = {
        "faithfulness.verifier": verifier_faithfulness(claims, contexts, support),
        "faithfulness.ragas": ragas["score"],
        "faithfulness.ragas.parse_failure_rate": (
            float(ragas["status"] == "parse_error") if ragas["status"] in JUDGED_STATUSES else None
        ),
        "citation.recall": citation_recall(claims, contexts, support),
        "citation.precision": citation_precision(claims, contexts, support),
        "abstention.unanswerable_refusal_rate": None if item.answerable else refused,
        "abstention.answerable_refusal_rate": refused if item.answerable else None,
        "answer.f1": answer_score(token_f1, variant.text, item.answers, variant.abstained),
        "answer.rouge_l": answer_score(rouge_l, variant.text, item.answers, variant.abstained),
        "answer.gold_coverage": gold_coverage(
            item.gold_sentences if item.answerable else (),
            [contexts[n - 1] for n in cited],
            support,
            variant.abstained,
        ),
    }
    best = sentence_support(claims, contexts, support)
    sentences = [
        {
            "text": c.text,
            "citations": list(c.citations),
            "support": round(b, 6),
            "supported": b >= support.threshold,
            "citation_recall": sentence_citation_recall(c, contexts, support),
            "relevant_citations": relevant_citations(c, contexts, support),
        }
        for c, b in zip(claims, best, strict=True)
    ]
    return values, sentences
