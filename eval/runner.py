"""The evaluation runner: every question of an eval set through the answerer, measured, cached, reported.

    summary = run_eval(Settings(), Path("data/questions.jsonl"), Path("runs/sample"), limit=None,
                       judge="none", retrieval_only=False, fail_under={"faithfulness.verifier": 0.9})

Writes to `out`: items.jsonl (one record per question, see eval.evaluation), summary.json (see eval.summary),
report.md, report.html and the verified answers in ragas's EvaluationDataset layout (ragas_dataset.jsonl).
Records are cached (eval.cache), so an interrupted run resumes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eval.cache import ItemCache, run_fingerprint
from eval.datasets import EvalItem, load_items, ragas_row, write_ragas
from eval.evaluation import Evaluator
from eval.metrics import RECALL_KS
from eval.summary import check_fail_under, counts, run_info, summarize
from rag.config import Settings
from rag.errors import InputError
from rag.pipeline import Answerer, Pipeline
from rag.verify.scoring import SupportScorer


def run_eval(
    settings: Settings,
    dataset: Path,
    out: Path,
    limit: int | None = None,
    judge: str = "none",
    retrieval_only: bool = False,
    fail_under: dict[str, float] | None = None,
    *,
    pipeline: Answerer | None = None,
    scorer: SupportScorer | None = None,
    ragas_judge: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate the eval set at `dataset`, write items.jsonl, summary.json and the reports to `out`, and
    return the summary. `pipeline` and `scorer` (given together) and `ragas_judge` replace the ones built from
    settings (tests); models load only when an item is not already cached."""
    from eval.ragas_faithfulness import JUDGES, build_judge
    from eval.report import write_reports

    if judge not in JUDGES:
        raise InputError(f"unknown judge {judge!r}; choose one of {', '.join(JUDGES)}")
    started = time.time()
    items = load_items(dataset)[:limit] if limit else load_items(dataset)
    out.mkdir(parents=True, exist_ok=True)
    fingerprint = run_fingerprint(settings, judge, retrieval_only)
    cache = ItemCache(out / "cache" / fingerprint)

    def make_evaluator() -> Evaluator:
        judge_llm = ragas_judge if ragas_judge is not None or retrieval_only else build_judge(judge, settings)
        return evaluator(settings, retrieval_only, pipeline, scorer, judge_llm)

    get_evaluator = _lazy(make_evaluator)
    records, reused = [], 0
    for item in _progress(items, progress):
        record = cache.get(item)
        reused += record is not None
        records.append(record or cache.put(item, get_evaluator().evaluate(item)))
    write_jsonl(out / "items.jsonl", records)
    answered = [r for r in records if "answer" in r]
    write_ragas(out / "ragas_dataset.jsonl", [ragas_row_of(r) for r in answered])
    summary = {
        "run": run_info(
            settings,
            dataset,
            limit=limit,
            judge=judge,
            retrieval_only=retrieval_only,
            fingerprint=fingerprint,
            effective_threshold=next((r["threshold"] for r in records if "threshold" in r), None),
            seconds=round(time.time() - started, 2),
        ),
        "counts": counts(records, reused),
        **summarize(records, retrieval_only),
    }
    summary["fail_under"] = {"thresholds": fail_under or {}, "missed": check_fail_under(summary, fail_under)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_reports(out, summary, records)
    return summary


def ragas_row_of(record: dict[str, Any]) -> dict[str, object]:
    """The verified answer of an items.jsonl record (with its [n] markers) and the passages it was given, in
    ragas's layout: so ragas, or any tool that reads it, can score this project's answers."""
    answer = record["answer"]
    contexts = [p["text"] for p in answer["passages"]]
    return ragas_row(record["question"], answer["answer"], contexts, record["answers"])


def evaluator(
    settings: Settings,
    retrieval_only: bool,
    answerer: Answerer | None,
    scorer: SupportScorer | None,
    judge: Any,
) -> Evaluator:
    """The Evaluator for a run: the pipeline built from settings (its verifier's scorer measures the answers)
    unless an answerer and a scorer are given."""
    if answerer is None:
        pipeline = Pipeline.from_settings(settings)
        answerer, scorer = pipeline, scorer or pipeline.verifier.scorer
    if scorer is None and not retrieval_only:
        raise InputError("evaluating answers needs a support scorer beside the answerer")
    threshold = settings.support_threshold
    if threshold is None:
        threshold = scorer.threshold if scorer is not None else 0.0
    depth = max(max(RECALL_KS), settings.top_k)
    return Evaluator(answerer, scorer, threshold, judge, retrieval_only, depth)


def _progress(items: Sequence[EvalItem], enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(items, desc="eval", unit="q", disable=not enabled, dynamic_ncols=True)


def _lazy(factory: Callable[[], Evaluator]) -> Callable[[], Evaluator]:
    made: list[Evaluator] = []

    def get() -> Evaluator:
        if not made:
            made.append(factory())
        return made[0]

    return get


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
