"""The evaluation commands of the `rag` CLI (convert, eval, compare, eval-verifier). rag/cli.py adds them by
name through rag.registry, so the runtime package never imports evaluation. Imports stay light here: each
command loads what it needs when it runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rag import registry
from rag.config import load_settings
from rag.console import IndexOption, JsonOption, VerboseOption, emit_json, setup_logging, stdout_console
from rag.errors import RagError

SCORERS = " | ".join(registry.names("scorer"))


def convert(
    dataset: Annotated[str, typer.Argument(help="source format: clapnq")],
    questions: Annotated[list[Path], typer.Argument(help="question files of that dataset")],
    out: Annotated[Path, typer.Option("-o", "--out", help="output eval-set JSONL")],
    passages: Annotated[Path | None, typer.Option(help="passages.jsonl (default: beside the questions)")] = None,
) -> None:
    """Convert a public dataset's questions into the project's eval-set format."""
    from eval.datasets import CONVERTERS, write_items

    if dataset not in CONVERTERS:
        raise RagError(f"unknown dataset {dataset!r}; valid: {', '.join(sorted(CONVERTERS))}")
    passages = passages or questions[0].parent / "passages.jsonl"
    count = write_items(CONVERTERS[dataset](questions, passages), out)
    print(f"wrote {count} items to {out}", file=sys.stderr)


def evaluate(
    dataset: Annotated[
        Path | None, typer.Option(help="eval set (JSONL: id, question, answers, gold_doc_ids), asked of the index")
    ] = None,
    answers: Annotated[
        Path | None,
        typer.Option(help="another system's answers to score, no index needed (JSONL: question, answer, contexts)"),
    ] = None,
    index: IndexOption = None,
    out: Annotated[Path, typer.Option(help="run directory: items.jsonl, summary.json, report.md/html")] = Path(
        "runs/eval"
    ),
    limit: Annotated[int | None, typer.Option(help="evaluate the first N items only")] = None,
    judge: Annotated[str, typer.Option(help="ragas judge LLM: none | local | openai")] = "none",
    retrieval_only: Annotated[bool, typer.Option(help="skip generation: retrieval metrics only")] = False,
    fail_under: Annotated[
        str | None, typer.Option(help="e.g. faithfulness.verifier=0.9,citation.precision=0.8: exit 1 if missed")
    ] = None,
    k: Annotated[int | None, typer.Option("-k", help="passages to retrieve")] = None,
    policy: Annotated[str | None, typer.Option(help="annotate | filter | strict")] = None,
    scorer: Annotated[str | None, typer.Option(help=f"support scorer: {SCORERS}")] = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Measure hallucination: faithfulness, citation recall/precision, abstention, answer and retrieval quality,
    of this project's answers (--dataset, asked of --index) or of another system's (--answers, ragas's layout
    read too)."""
    setup_logging(verbose)
    from eval.report import fmt, fmt_ci, metric_rows
    from eval.summary import parse_fail_under

    if (dataset is None) == (answers is None):
        raise RagError("give either --dataset (questions to ask the index) or --answers (answers to score)")
    thresholds = parse_fail_under(fail_under) if fail_under else None
    settings = load_settings(index=index, top_k=k, policy=policy, scorer=scorer)
    if answers is not None:
        from eval.external import evaluate_answers

        summary = evaluate_answers(settings, answers, out, judge, thresholds, progress=not as_json)
    else:
        from eval.runner import run_eval

        summary = run_eval(settings, dataset, out, limit, judge, retrieval_only, thresholds, progress=not as_json)
    if as_json:
        emit_json(summary)
    else:
        from rich.table import Table

        table = Table("metric", "value [95% CI]", "n", title=f"{dataset or answers} -> {out}")
        for name, entry in metric_rows(summary):
            table.add_row(name, f"{fmt(entry['value'])} {fmt_ci(entry)}", str(entry.get("n", "")))
        stdout_console().print(table)
    missed = summary["fail_under"]["missed"]
    if missed:
        print("below threshold: " + "; ".join(missed), file=sys.stderr)
        raise typer.Exit(1)


def compare(
    run_a: Annotated[Path, typer.Argument(help="first run directory (baseline)")],
    run_b: Annotated[Path, typer.Argument(help="second run directory")],
    as_json: JsonOption = False,
) -> None:
    """Metric deltas between two evaluation runs, with confidence intervals."""
    from eval.compare import compare_runs, print_comparison

    rows = compare_runs(run_a, run_b)
    if as_json:
        emit_json(rows)
    else:
        print_comparison(rows, str(run_a), str(run_b), stdout_console())


def eval_verifier(
    dataset: Annotated[Path, typer.Option(help="labelled premise/claim file")],
    fmt: Annotated[str, typer.Option("--format", help="wice | halueval | pairs")],
    out: Annotated[Path | None, typer.Option(help="directory for summary.json and scores.jsonl")] = None,
    scorer: Annotated[str | None, typer.Option(help=f"support scorer: {SCORERS}")] = None,
    split: Annotated[str, typer.Option(help="all | dev | heldout (the project's fixed held-out part)")] = "all",
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Measure a support scorer on labelled claims: balanced accuracy, F1 of 'unsupported', AUROC, pairs/s."""
    setup_logging(verbose)
    from eval.verifier_eval import eval_verifier_command

    eval_verifier_command(dataset, fmt, out, scorer or "", as_json, split)


def eval_chat(
    conversations: Annotated[Path, typer.Option(help="conversations JSONL (see data/conversations.jsonl)")] = Path(
        "data/conversations.jsonl"
    ),
    index: IndexOption = None,
    rewriter: Annotated[str, typer.Option(help="comma-separated rewriters: rules, generator")] = "rules,generator",
    k: Annotated[int, typer.Option("-k", help="passages retrieved per question for recall@k")] = 5,
    no_retrieval: Annotated[bool, typer.Option(help="only judge the rewrites; no index needed")] = False,
    out: Annotated[Path, typer.Option(help="run directory: rows.jsonl, summary.json, table.md")] = Path("runs/chat"),
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Measure follow-up rewriting: how often each rewriter resolves a follow-up, and retrieval recall@k."""
    setup_logging(verbose)
    from eval.chat_rewrite import load_conversations, measure, summarize, table, write_run
    from rag.chat import load_rewriter
    from rag.pipeline import Pipeline

    settings = load_settings(index=index)
    pipeline = Pipeline.from_settings(settings)
    names = [n.strip() for n in rewriter.split(",") if n.strip()]
    rewriters = {name: load_rewriter(settings, pipeline, name) for name in names}

    def search(question: str) -> list[str]:
        return [p.chunk.doc_id for p in pipeline.search(question, k=k)]

    rows = measure(load_conversations(conversations), rewriters, None if no_retrieval else search, k)
    summary = summarize(rows, names)
    markdown = table(summary, names, k)
    write_run(out, rows, summary, markdown)
    if as_json:
        emit_json(summary)
    else:
        print(markdown, end="")
