"""Evaluating another RAG system's answers (`rag eval --answers FILE.jsonl`): no index and no generation, the
same hallucination metrics as for this project's own answers.

Each line holds one answered question, in either layout:
- the project's: {"id"?, "question", "answer", "contexts": [str], "answers"? (gold answers; [] = the question is
  unanswerable), "gold_sentences"?, "citations"? ([n], the contexts an answer without [n] markers cites)};
- ragas's EvaluationDataset JSONL: {"user_input", "response", "retrieved_contexts", "reference"?}, which
  `EvaluationDataset.to_jsonl` writes (LlamaIndex and LangChain apps' outputs are commonly exported so).

The answer is split into claims by the claim rules (rag.verify.claims, the one split there is), [n] markers
numbering the contexts from 1. It is measured by eval.evaluation's metrics: verifier faithfulness (the support
scorer of the setting `scorer`), ragas faithfulness when a judge is given, ALCE citation recall and precision,
and refusals (a sentence saying the sources lack the answer counts as refusing; an answer with nothing else
refused). Refusal on answerable / unanswerable questions, answer F1 and ROUGE-L need gold answers;
`abstention.refusal_rate` is over every item. The run directory gets items.jsonl, summary.json, report.md,
report.html and the answers in ragas's layout (ragas_dataset.jsonl).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.datasets import EvalItem, ragas_row, read_jsonl, write_ragas
from eval.evaluation import measure_variant
from eval.metrics import Support
from eval.summary import GENERATED_METRICS, check_fail_under, counts, summarize
from eval.variants import Variant, draft_variant
from rag.config import Settings
from rag.errors import InputError
from rag.records import Claim
from rag.verify.claims import draft_claims
from rag.verify.scoring import SupportScorer, load_scorer

EXTERNAL = "external"
NO_GOLD_METRICS = (
    "abstention.unanswerable_refusal_rate",
    "abstention.answerable_refusal_rate",
    "answer.f1",
    "answer.rouge_l",
)
METRICS = (*GENERATED_METRICS, "abstention.refusal_rate")


@dataclass(frozen=True)
class AnsweredItem:
    """One question another system answered: the question (with gold data when known), its answer and the
    contexts it retrieved."""

    item: EvalItem
    answer: str
    contexts: tuple[str, ...]
    citations: tuple[int, ...] = ()
    gold_known: bool = False

    def ragas_row(self) -> dict[str, Any]:
        return ragas_row(self.item.question, self.answer, self.contexts, self.item.answers)

    def variant(self) -> Variant:
        """The answer's claims; without [n] markers, each claim cites the given `citations`."""
        draft = draft_claims(self.answer, len(self.contexts), cut_off=False)
        if self.citations and not any(c.citations for c in draft):
            cited = tuple(n for n in self.citations if 1 <= n <= len(self.contexts))
            draft = tuple(Claim(c.text, cited, c.kind) for c in draft)
        return draft_variant(draft, "")


def parse_line(record: dict[str, Any], number: int) -> AnsweredItem:
    """One line of either layout; InputError naming the line when a required field is missing."""
    ragas = "user_input" in record
    names = ("user_input", "response", "retrieved_contexts") if ragas else ("question", "answer", "contexts")
    missing = [name for name in names if name not in record]
    if missing:
        raise InputError(f"line {number} has no {', '.join(missing)} (needs {', '.join(names)})")
    question, answer, contexts = (record[name] for name in names)
    if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
        raise InputError(f"line {number}: {names[2]} must be a list of strings")
    if ragas:
        gold = (record["reference"],) if record.get("reference") else ()
        gold_known = "reference" in record
    else:
        gold = tuple(str(a) for a in record.get("answers", ()))
        gold_known = "answers" in record
    item = EvalItem(
        id=str(record.get("id", f"line-{number}")),
        question=str(question),
        answers=gold,
        gold_sentences=tuple(record.get("gold_sentences", ())),
    )
    citations = tuple(int(n) for n in record.get("citations", ()))
    return AnsweredItem(item, str(answer or ""), tuple(contexts), citations, gold_known)


def read_answers(path: Path) -> list[AnsweredItem]:
    """Every line of an answers file (JSONL, either layout)."""
    try:
        items = [parse_line(record, number) for number, record in enumerate(read_jsonl(path), start=1)]
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
    if not items:
        raise InputError(f"{path}: no answers in the file")
    return items


def score(answered: AnsweredItem, support: Support, judge: Any) -> dict[str, Any]:
    """The record of one answered item (a line of items.jsonl): every metric and the per-sentence judgements."""
    variant = answered.variant()
    contexts = list(answered.contexts)
    if judge is None:
        outcome = {"score": None, "status": "skipped", "detail": "no judge"}
    else:
        outcome = judge.score(answered.item.question, variant.text, contexts).to_dict()
    values, sentences = measure_variant(answered.item, variant, contexts, support, outcome)
    if not answered.gold_known:
        values.update(dict.fromkeys(NO_GOLD_METRICS))
    values["abstention.refusal_rate"] = float(variant.abstained)
    return {
        **answered.item.to_dict(),
        "answerable": answered.item.answerable if answered.gold_known else None,
        "error": None,
        "metrics": values,
        "answer": answered.answer,
        "contexts": contexts,
        "threshold": support.threshold,
        EXTERNAL: {"text": variant.text, "abstained": variant.abstained, "sentences": sentences, "ragas": outcome},
    }


def evaluate_answers(
    settings: Settings,
    answers: Path,
    out: Path,
    judge: str = "none",
    fail_under: dict[str, float] | None = None,
    *,
    scorer: SupportScorer | None = None,
    ragas_judge: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Measure the answers in `answers`, write the run to `out` and return its summary. `scorer` and
    `ragas_judge` replace the ones built from the settings (tests)."""
    from tqdm import tqdm

    from eval.ragas_faithfulness import build_judge
    from eval.report import write_reports

    started = time.time()
    items = read_answers(answers)
    scorer = scorer or load_scorer(settings)
    threshold = settings.support_threshold if settings.support_threshold is not None else scorer.threshold
    judge_llm = ragas_judge if ragas_judge is not None else build_judge(judge, settings)
    records = [
        score(a, Support(scorer, threshold), judge_llm)
        for a in tqdm(items, desc="eval", unit="answer", disable=not progress)
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "items.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    write_ragas(out / "ragas_dataset.jsonl", [a.ragas_row() for a in items])
    tally = counts(records, 0, (EXTERNAL,))
    tally.update(
        answerable=sum(r["answerable"] is True for r in records),
        unanswerable=sum(r["answerable"] is False for r in records),
    )
    summary = {
        "run": {
            "answers": str(answers),
            "dataset": str(answers),
            "judge": judge,
            "scorer": scorer.name,
            "effective_threshold": threshold,
            "seconds": round(time.time() - started, 2),
        },
        "counts": tally,
        **summarize(records, False, METRICS),
    }
    summary["fail_under"] = {"thresholds": fail_under or {}, "missed": check_fail_under(summary, fail_under)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_reports(out, summary, records)
    return summary
