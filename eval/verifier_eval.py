"""Claim-level evaluation of a support scorer (the verifier) on WiCE, HaluEval or plain NLI pairs (read, with
their fixed splits, by eval.pairs).

    evaluate_verifier(scorer, Path("../shared/data/wice/claims_dev.jsonl"), "wice", Path("runs/v"))
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from eval.metrics import BOOTSTRAP_RESAMPLES, CONFIDENCE, percentile_interval, resampled_means
from eval.pairs import FORMATS, SPLITS, LabeledPair, load_pairs
from eval.report import md_table
from rag.errors import InputError
from rag.verify.scoring import SupportScorer


def class_hits(labels: Sequence[int], decisions: Sequence[int]) -> list[list[bool]]:
    """Per class present (0, then 1): whether each of its items was decided as that class."""
    hits = [[d == cls for y, d in zip(labels, decisions, strict=True) if y == cls] for cls in (0, 1)]
    return [h for h in hits if h]


def balanced_accuracy(labels: Sequence[int], decisions: Sequence[int]) -> float:
    """Mean of the recall of each class present (scikit-learn's, or plain accuracy with one class)."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    if len(set(labels)) < 2:
        return float(accuracy_score(labels, decisions)) if labels else 0.0
    return float(balanced_accuracy_score(labels, decisions))


def balanced_accuracy_interval(
    labels: Sequence[int], decisions: Sequence[int], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float] | None:
    """95% stratified-bootstrap interval of the balanced accuracy (each class resampled within itself, so the
    class counts stay fixed); None unless both classes are present."""
    import numpy as np

    hits = class_hits(labels, decisions)
    if len(hits) < 2:
        return None
    rng = np.random.default_rng(seed)
    recalls = [resampled_means(np.asarray(h, dtype=float), rng, resamples) for h in hits]
    return percentile_interval(sum(recalls) / len(recalls), CONFIDENCE)


def f1_unsupported(labels: Sequence[int], decisions: Sequence[int]) -> float:
    """F1 of the "not supported" class (label 0), the one a verifier exists to catch."""
    from sklearn.metrics import f1_score

    return float(f1_score(labels, decisions, pos_label=0, zero_division=0))


def auroc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (ties count half); None when only one class is present."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores)) if len(set(labels)) == 2 else None


def metrics(labels: Sequence[int], scores: Sequence[float], threshold: float) -> dict[str, Any]:
    """The summary numbers of one run: decisions are score >= threshold."""
    decisions = [int(s >= threshold) for s in scores]
    return {
        "n": len(labels),
        "positives": sum(labels),
        "balanced_accuracy": balanced_accuracy(labels, decisions),
        "balanced_accuracy_ci95": balanced_accuracy_interval(labels, decisions),
        "f1_unsupported": f1_unsupported(labels, decisions),
        "auroc": auroc(labels, scores),
        "threshold": threshold,
    }


def evaluate_verifier(
    scorer: SupportScorer, dataset_path: Path, fmt: str, out_dir: Path | None, split: str = "all"
) -> dict[str, Any]:
    """Score every pair of the dataset split; write summary.json and scores.jsonl to out_dir if given."""
    pairs = load_pairs(dataset_path, fmt, split)
    if not pairs:
        raise InputError(f"{dataset_path}: no {fmt} pairs in split {split!r}")
    summary, scores = measure(scorer, pairs, fmt, split)
    summary = {**summary, "dataset": str(dataset_path)}
    if out_dir is not None:
        write_run(out_dir, summary, pairs, scores)
    return summary


def write_run(out_dir: Path, summary: dict[str, Any], pairs: list[LabeledPair], scores: list[float]) -> None:
    """summary.json plus one line per pair (id, label, score): the ids document exactly what was measured."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    with (out_dir / "scores.jsonl").open("w", encoding="utf-8") as lines:
        for pair, score in zip(pairs, scores, strict=True):
            record = {k: v for k, v in asdict(pair).items() if k in ("id", "label")}
            lines.write(json.dumps({**record, "score": score}) + "\n")


def eval_verifier_command(
    dataset: Path, fmt: str, out: Path | None, scorer_name: str, as_json: bool, split: str = "all"
) -> dict[str, Any]:
    """What `rag eval-verifier` runs: build the named scorer from Settings and evaluate it."""
    from rag.config import load_settings
    from rag.verify.scoring import load_scorer

    settings = load_settings(scorer=scorer_name or None)
    summary = evaluate_verifier(load_scorer(settings), dataset, fmt, out, split)
    print(json.dumps(summary, indent=2) if as_json else format_summary(summary))
    return summary


def interval(summary: dict[str, Any]) -> str:
    """The balanced accuracy's 95% interval as "[low, high]" ("" when it has none)."""
    bounds = summary.get("balanced_accuracy_ci95")
    return f"[{bounds[0]:.2f}, {bounds[1]:.2f}]" if bounds else ""


def format_summary(summary: dict[str, Any]) -> str:
    """One human-readable line per metric."""
    auc = summary["auroc"]
    return "\n".join(
        [
            f"{summary['scorer']} on {summary['format']}:{summary['split']} (n={summary['n']})",
            f"  balanced accuracy {summary['balanced_accuracy']:.3f} {interval(summary)}",
            f"  F1 unsupported    {summary['f1_unsupported']:.3f}",
            f"  AUROC             {'n/a' if auc is None else f'{auc:.3f}'}",
            f"  threshold         {summary['threshold']:.3f}",
            f"  pairs/s           {summary['pairs_per_second']:.1f}",
        ]
    )


BENCHMARKS = {"wice": "wice/claims_dev.jsonl", "halueval": "halueval/qa_dev.jsonl"}
CONTRADICTIONS = Path(__file__).resolve().parent.parent / "data" / "verifier" / "contradictions.jsonl"


def benchmark(
    data: Path, scorer_specs: Sequence[str], split: str, out: Path | None, product_run: Path | None = None
) -> list[dict[str, Any]]:
    """Every named scorer in one run on WiCE and HaluEval (one split), the project's own synthetic claims (the
    same split), its hand-written contradiction and paraphrase pairs (all), with the heldout split its written
    paraphrase pairs (eval.written_pairs) and, with `product_run`, the held-out labelled generator sentences of
    that run (eval.product_pairs); out/<scorer>-<dataset>/ per result. A spec `trained:DIR` is the trained scorer
    with another model directory (a previous verifier)."""
    from eval.product_pairs import product_pairs
    from eval.synthetic import synthetic_pairs
    from eval.written_pairs import written_pairs

    product = product_pairs(product_run, "heldout")[0] if product_run and split == "heldout" else []
    written = written_pairs("heldout") if split == "heldout" else []
    results = []
    for spec in scorer_specs:
        scorer = scorer_of(spec)
        for fmt, relative in BENCHMARKS.items():
            target = out / f"{label(spec)}-{fmt}" if out else None
            results.append({**evaluate_verifier(scorer, data / relative, fmt, target, split), "scorer": label(spec)})
        synthetic = synthetic_pairs(data, split)
        if synthetic:
            results.append({**measure(scorer, synthetic, "synthetic", split)[0], "scorer": label(spec)})
        target = out / f"{label(spec)}-contradictions" if out else None
        contradictions = evaluate_verifier(scorer, CONTRADICTIONS, "pairs", target, "all")
        results.append({**contradictions, "format": "contradictions", "scorer": label(spec)})
        if product:
            results.append({**measure(scorer, product, "product", split)[0], "scorer": label(spec)})
        if written:
            results.append({**measure(scorer, written, "written", split)[0], "scorer": label(spec)})
    if out is not None:
        (out / "table.md").write_text(markdown_table(results), encoding="utf-8")
    return results


def scorer_of(spec: str) -> SupportScorer:
    """The scorer a spec names: a registered name, or trained:DIR for a trained verifier in another directory."""
    from rag.verify.scoring import load_scorers

    return load_scorers([spec])[0]


def label(spec: str) -> str:
    name, _, directory = spec.partition(":")
    return f"{name} ({Path(directory).name})" if directory else name


def measure(
    scorer: SupportScorer, pairs: Sequence[LabeledPair], fmt: str, split: str
) -> tuple[dict[str, Any], list[float]]:
    """The summary numbers of scoring `pairs` with `scorer`, and the scores."""
    started = time.perf_counter()
    scores = scorer.score_batch([(p.premise, p.claim) for p in pairs])
    elapsed = max(time.perf_counter() - started, 1e-9)
    summary = {
        "scorer": scorer.name,
        "format": fmt,
        "split": split,
        **metrics([p.label for p in pairs], scores, scorer.threshold),
        "seconds": elapsed,
        "pairs_per_second": len(pairs) / elapsed,
    }
    return summary, scores


def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    """The benchmark results as the Markdown table the README and model card quote."""
    header = ("scorer", "dataset (split)", "n", "balanced acc. [95% CI]", "F1 unsupported", "AUROC", "threshold")
    rows = [
        (
            r["scorer"],
            f"{r['format']} ({r['split']})",
            str(r["n"]),
            f"{r['balanced_accuracy']:.3f} {interval(r)}",
            f"{r['f1_unsupported']:.3f}",
            "n/a" if r["auroc"] is None else f"{r['auroc']:.3f}",
            f"{r['threshold']:.3f}",
            f"{r['pairs_per_second']:.1f}",
        )
        for r in results
    ]
    return "\n".join(md_table((*header, "pairs/s"), rows)) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """python -m eval.verifier_eval --dataset FILE --format wice [--split heldout] [--scorer trained]
    or   python -m eval.verifier_eval --benchmark ../shared/data --scorer trained,heuristic --split heldout."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path)
    parser.add_argument("--format", dest="fmt", choices=FORMATS)
    parser.add_argument("--benchmark", type=Path, help="shared data dir: run WiCE and HaluEval for each scorer")
    parser.add_argument("--split", choices=SPLITS, default="all")
    parser.add_argument(
        "--scorer", default="", help="scorer name (comma-separated with --benchmark; trained:DIR for another verifier)"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--product-run", type=Path, help="with --benchmark --split heldout: also its held-out labelled generator pairs"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.benchmark:
        names = [n for n in args.scorer.split(",") if n] or ["trained", "heuristic"]
        results = benchmark(args.benchmark, names, args.split, args.out, args.product_run)
        print(markdown_table(results), end="")
        return 0
    if args.dataset is None or args.fmt is None:
        parser.error("--dataset and --format are required without --benchmark")
    eval_verifier_command(args.dataset, args.fmt, args.out, args.scorer, args.json, args.split)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
