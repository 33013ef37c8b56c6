"""The run's summary: each metric's mean with a 95% bootstrap CI and n, the counts, the run's settings, and the
--fail-under thresholds checked against it.

Metric names: retrieval.recall@{1,5,10}, retrieval.mrr; for the verified answer faithfulness.verifier,
faithfulness.ragas, faithfulness.ragas.parse_failure_rate, citation.recall, citation.precision,
abstention.unanswerable_refusal_rate, abstention.answerable_refusal_rate, answer.f1, answer.rouge_l,
answer.gold_coverage; and the same for the raw generator answer prefixed "raw.".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.metrics import RECALL_KS, aggregate
from eval.variants import RAW_PREFIX
from rag.config import Settings
from rag.errors import InputError

RETRIEVAL_METRICS = (*(f"retrieval.recall@{k}" for k in RECALL_KS), "retrieval.mrr")
GENERATED_METRICS = (
    "answer.correct",
    "faithfulness.verifier",
    "faithfulness.ragas",
    "faithfulness.ragas.parse_failure_rate",
    "citation.recall",
    "citation.precision",
    "abstention.unanswerable_refusal_rate",
    "abstention.answerable_refusal_rate",
    "answer.f1",
    "answer.rouge_l",
    "answer.gold_coverage",
)
RUN_SETTINGS = (
    "index",
    "embedder",
    "retrieval_mode",
    "top_k",
    "candidates",
    "reranker",
    "backend",
    "model",
    "base_url",
    "scorer",
    "nli_model",
    "verifier_path",
    "verifier_base_url",
    "verifier_model",
    "support_threshold",
    "policy",
    "extractive_fallback",
)


def metric_names(retrieval_only: bool) -> tuple[str, ...]:
    """Every metric summary.json reports, in report order."""
    if retrieval_only:
        return RETRIEVAL_METRICS
    return RETRIEVAL_METRICS + GENERATED_METRICS + tuple(RAW_PREFIX + m for m in GENERATED_METRICS)


def summarize(
    records: Sequence[dict[str, Any]], retrieval_only: bool, names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Each metric's mean, 95% bootstrap CI and n over the items where it applies (`names`: those metrics)."""
    return {
        name: aggregate(r["metrics"].get(name) for r in records if not r.get("error")).to_dict()
        for name in names or metric_names(retrieval_only)
    }


def counts(
    records: Sequence[dict[str, Any]], reused: int, variants: Sequence[str] = ("verified", "raw")
) -> dict[str, Any]:
    ragas = {name: dict(Counter(r[name]["ragas"]["status"] for r in records if name in r)) for name in variants}
    return {
        "items": len(records),
        "answerable": sum(bool(r["answerable"]) for r in records),
        "unanswerable": sum(not r["answerable"] for r in records),
        "errors": sum(bool(r.get("error")) for r in records),
        "reused_from_cache": reused,
        "evaluated": len(records) - reused,
        "ragas_status": ragas,
    }


def run_info(settings: Settings, dataset: Path, **extra: Any) -> dict[str, Any]:
    keys = RUN_SETTINGS
    dump = settings.model_dump(mode="json")
    return {"dataset": str(dataset), **{k: dump[k] for k in keys}, **extra, "settings": dump}


def parse_fail_under(text: str) -> dict[str, float]:
    """ "faithfulness.verifier=0.9,citation.precision=0.8" -> {"faithfulness.verifier": 0.9, ...}."""
    thresholds: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = (piece.strip() for piece in part.partition("="))
        try:
            thresholds[name] = float(value) if sep and name else float("nan")
        except ValueError:
            thresholds[name] = float("nan")
        if math.isnan(thresholds[name]):
            raise InputError(f"--fail-under expects metric=value[,metric=value...]; got {part!r}")
    return thresholds


def check_fail_under(summary: dict[str, Any], thresholds: dict[str, float] | None) -> list[str]:
    """One line per threshold missed: a value below it, or a metric the run did not measure."""
    missed = []
    for name, minimum in (thresholds or {}).items():
        entry = summary.get(name)
        value = entry.get("value") if isinstance(entry, dict) else None
        if value is None:
            missed.append(f"{name}: not measured (needs >= {minimum:g})")
        elif value < minimum:
            missed.append(f"{name} = {value:.4f} < {minimum:g}")
    return missed
