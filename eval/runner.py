"""The evaluation runner: every question of an eval set through the pipeline, measured, cached, reported.

    summary = run_eval(Settings(), Path("data/questions.jsonl"), Path("runs/sample"), limit=None,
                       judge="none", retrieval_only=False, fail_under={"faithfulness.verifier": 0.9})

Writes to `out`: items.jsonl (one record per question: retrieved passages, the Answer, raw and verified
sentences with their support and citation judgements, metric values), summary.json (each metric's mean with
a 95% bootstrap CI and n, counts, the run's settings), report.md and report.html. Each item's record is
cached under out/cache/<fingerprint>/ (fingerprint = hash of the settings, the sizes and times of the index's
and models' files, judge and mode), so an interrupted run resumes where it stopped and a finished one is
re-reported without loading any model.

Metric names in summary.json: retrieval.recall@{1,5,10}, retrieval.mrr; for the verified answer
faithfulness.verifier, faithfulness.ragas, faithfulness.ragas.parse_failure_rate, citation.recall,
citation.precision, abstention.unanswerable_refusal_rate, abstention.answerable_refusal_rate, answer.f1,
answer.rouge_l, answer.gold_coverage; and the same for the raw generator answer prefixed "raw.".
The raw answer is the generator's text split into sentences with its [n] markers (sentences in which the
generator says the sources lack the answer removed); it counts as a refusal when no other sentence is left,
including when the pipeline abstained before generating.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.datasets import EvalItem, load_items
from eval.metrics import (
    RECALL_KS,
    Claim,
    Support,
    aggregate,
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
from rag.config import Settings
from rag.errors import InputError, RagError
from rag.models import resolve_model
from rag.records import Answer

CACHE_VERSION = 1
RAW_PREFIX = "raw."
RETRIEVAL_METRICS = (*(f"retrieval.recall@{k}" for k in RECALL_KS), "retrieval.mrr")
GENERATED_METRICS = (
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
JUDGED_STATUSES = ("ok", "parse_error", "no_statements")
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
    "support_threshold",
    "policy",
    "extractive_fallback",
)


def metric_names(retrieval_only: bool) -> tuple[str, ...]:
    """Every metric summary.json reports, in report order."""
    if retrieval_only:
        return RETRIEVAL_METRICS
    return RETRIEVAL_METRICS + GENERATED_METRICS + tuple(RAW_PREFIX + m for m in GENERATED_METRICS)


# ---------------------------------------------------------------------------------------------- variants


@dataclass(frozen=True, slots=True)
class Variant:
    """One answer to measure: the raw generator output or the verified answer."""

    prefix: str
    claims: tuple[Claim, ...]
    abstained: bool

    @property
    def text(self) -> str:
        return " ".join(c.text for c in self.claims)


def raw_variant(answer: Answer) -> Variant:
    """The generator's own answer: its sentences and [n] markers, abstention sentences removed."""
    from rag.verify.citations import parse_citations
    from rag.verify.verifier import is_abstention

    parsed = parse_citations(answer.raw_answer, len(answer.passages))
    claims = tuple(Claim.of(s.text, s.citations) for s in parsed if not is_abstention(s.text))
    return Variant(RAW_PREFIX, claims, abstained=not claims)


def verified_variant(answer: Answer) -> Variant:
    """What the user is shown: the verified sentences with their verified citations, or an abstention."""
    if answer.abstained:
        return Variant("", (), abstained=True)
    claims = tuple(Claim.of(s.text, (c.n for c in s.citations)) for s in answer.sentences)
    return Variant("", claims, abstained=not claims)


# ---------------------------------------------------------------------------------------------- one item


@dataclass
class Evaluator:
    """What measuring one item needs: the pipeline, the support scorer, the optional ragas judge."""

    pipeline: Any
    support: Support | None
    judge: Any | None
    retrieval_only: bool
    search_k: int

    def evaluate(self, item: EvalItem) -> dict[str, Any]:
        record = item_base(item)
        try:
            passages = self.pipeline.search(item.question, k=self.search_k)
            record["retrieved"] = [p.to_dict(n) for n, p in enumerate(passages, start=1)]
            record["metrics"] = retrieval_metrics([p.chunk.doc_id for p in passages], item.gold_doc_ids, self.search_k)
            if not self.retrieval_only:
                self._generated(item, self.pipeline.ask(item.question), record)
        except RagError as error:
            record["error"] = str(error)
        return record

    def _generated(self, item: EvalItem, answer: Answer, record: dict[str, Any]) -> None:
        assert self.support is not None
        contexts = [p.chunk.text for p in answer.passages]
        record["answer"] = answer.to_dict()
        record["threshold"] = self.support.threshold
        judged: dict[str, dict[str, Any]] = {}
        for variant in (verified_variant(answer), raw_variant(answer)):
            name = "raw" if variant.prefix else "verified"
            outcome = judged.get(variant.text) or self._ragas(item.question, variant, contexts)
            judged[variant.text] = outcome
            values, sentences = measure_variant(item, variant, contexts, self.support, outcome)
            record["metrics"].update({variant.prefix + k: v for k, v in values.items()})
            record[name] = {"text": variant.text, "abstained": variant.abstained, "sentences": sentences}
            record[name]["ragas"] = outcome

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
    cited = sorted({n for c in claims for n in c.cites})
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
            "citations": list(c.cites),
            "support": round(b, 6),
            "supported": b >= support.threshold,
            "citation_recall": sentence_citation_recall(c, contexts, support),
            "relevant_citations": relevant_citations(c, contexts, support),
        }
        for c, b in zip(claims, best, strict=True)
    ]
    return values, sentences


# ---------------------------------------------------------------------------------------------- cache


def run_fingerprint(settings: Settings, judge: str, retrieval_only: bool) -> str:
    """Hash of everything that changes an item's result: settings (model names included), the files behind
    them, judge and mode."""
    payload = {
        "version": CACHE_VERSION,
        "settings": settings.model_dump(mode="json"),
        "files": artifact_stamps(settings),
        "judge": judge,
        "retrieval_only": retrieval_only,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def artifact_stamps(settings: Settings) -> dict[str, list[tuple[str, int, int]]]:
    """(file, size, mtime) of the index and of every local model the settings name, the committed verifier
    included: a re-ingested index or a replaced model changes the fingerprint though its name does not."""
    from rag.verify.trained import MODEL_DIR

    locations = {"index": str(settings.index), "verifier": str(MODEL_DIR)}
    for name in ("embedder", "model", "reranker", "nli_model"):
        value = getattr(settings, name)
        if value:
            with contextlib.suppress(RagError):
                locations[name] = resolve_model(name, value)
    return {name: file_stamps(Path(location)) for name, location in locations.items()}


def file_stamps(path: Path) -> list[tuple[str, int, int]]:
    """(name, size, mtime) of a file, or of every file under a directory; nothing for a missing path."""
    if path.is_file():
        return [(path.name, *stamp(path))]
    files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else []
    return [(str(f.relative_to(path)), *stamp(f)) for f in files]


def stamp(file: Path) -> tuple[int, int]:
    info = file.stat()
    return info.st_size, info.st_mtime_ns


class ItemCache:
    """One JSON file per item, named by a hash of the item id and content; written atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, item: EvalItem) -> Path:
        key = json.dumps([item.id, item.to_dict()], sort_keys=True)
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def get(self, item: EvalItem) -> dict[str, Any] | None:
        try:
            return json.loads(self.path(item).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def put(self, item: EvalItem, record: dict[str, Any]) -> dict[str, Any]:
        path = self.path(item)
        partial = path.with_suffix(".part")
        partial.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, path)
        return record


# ---------------------------------------------------------------------------------------------- summary


def summarize(records: Sequence[dict[str, Any]], retrieval_only: bool) -> dict[str, Any]:
    """Each metric's mean, 95% bootstrap CI and n over the items where it applies."""
    return {
        name: aggregate(r["metrics"].get(name) for r in records if not r.get("error")).to_dict()
        for name in metric_names(retrieval_only)
    }


def counts(records: Sequence[dict[str, Any]], reused: int) -> dict[str, Any]:
    ragas = {
        name: dict(Counter(r[name]["ragas"]["status"] for r in records if name in r)) for name in ("verified", "raw")
    }
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


# ---------------------------------------------------------------------------------------------- thresholds


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


# ---------------------------------------------------------------------------------------------- the run


def _progress(items: Sequence[EvalItem], enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(items, desc="eval", unit="q", disable=not enabled, dynamic_ncols=True)


def _lazy(factory: Callable[[], Any]) -> Callable[[], Any]:
    made: list[Any] = []

    def get() -> Any:
        if not made:
            made.append(factory())
        return made[0]

    return get


def _default_support(settings: Settings, pipeline: Any) -> Support:
    verifier = getattr(pipeline, "verifier", None)
    if verifier is not None:
        return Support(verifier.scorer, verifier.threshold)
    from rag.verify.scoring import load_scorer

    scorer = load_scorer(settings)
    return Support(scorer, scorer.threshold if settings.support_threshold is None else settings.support_threshold)


def run_eval(
    settings: Settings,
    dataset: Path,
    out: Path,
    limit: int | None = None,
    judge: str = "none",
    retrieval_only: bool = False,
    fail_under: dict[str, float] | None = None,
    *,
    pipeline: Any = None,
    scorer: Any = None,
    ragas_judge: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate the eval set at `dataset`, write items.jsonl, summary.json and the reports to `out`, and
    return the summary. `pipeline` (search/ask), `scorer` (SupportScorer) and `ragas_judge` replace the
    ones built from settings (tests); models load only when an item is not already cached."""
    from eval.ragas_faithfulness import JUDGES, build_judge
    from eval.report import write_reports

    if judge not in JUDGES:
        raise InputError(f"unknown judge {judge!r}; choose one of {', '.join(JUDGES)}")
    started = time.time()
    items = load_items(dataset)[:limit] if limit else load_items(dataset)
    out.mkdir(parents=True, exist_ok=True)
    fingerprint = run_fingerprint(settings, judge, retrieval_only)
    cache = ItemCache(out / "cache" / fingerprint)
    evaluator = _lazy(lambda: _evaluator(settings, judge, retrieval_only, pipeline, scorer, ragas_judge, build_judge))
    records, reused = [], 0
    for item in _progress(items, progress):
        record = cache.get(item)
        reused += record is not None
        records.append(record or cache.put(item, evaluator().evaluate(item)))
    write_jsonl(out / "items.jsonl", records)
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


def _evaluator(
    settings: Settings,
    judge: str,
    retrieval_only: bool,
    pipeline: Any,
    scorer: Any,
    ragas_judge: Any,
    build_judge: Callable[[str, Settings], Any],
) -> Evaluator:
    if pipeline is None:
        from rag.pipeline import Pipeline

        pipeline = Pipeline.from_settings(settings)
    support = None
    if not retrieval_only:
        threshold = settings.support_threshold
        support = (
            Support(scorer, scorer.threshold if threshold is None else threshold)
            if scorer is not None
            else _default_support(settings, pipeline)
        )
        ragas_judge = ragas_judge if ragas_judge is not None else build_judge(judge, settings)
    return Evaluator(pipeline, support, ragas_judge, retrieval_only, max(max(RECALL_KS), settings.top_k))


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_jsonl_records(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
