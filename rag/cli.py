"""The `rag` command line: ingest, search, ask, eval and serve. Logs go to stderr, `--json` to stdout.

Imports of heavy libraries happen inside each command, so `rag --help` starts fast.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from rag.config import Settings
from rag.errors import RagError

app = typer.Typer(
    help="grounded-rag: answers with verified citations, or says the corpus does not say.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])

IndexOption = Annotated[Path | None, typer.Option("--index", help="index directory [env RAG_INDEX]")]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="debug logging on stderr")]


def setup_logging(verbose: bool = False) -> None:
    from rich.logging import RichHandler

    handler = RichHandler(console=_stderr(), show_path=False, show_time=False)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], format="%(message)s", force=True
    )
    for noisy in ("httpx", "sentence_transformers", "urllib3", "filelock", "faiss", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _stdout() -> Any:
    from rich.console import Console

    return Console()


def user_errors(command: F) -> F:
    """Turn RagError into a one-line message on stderr and exit status 2, never a traceback."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except RagError as error:
            print(f"error: {error}", file=sys.stderr)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return run  # type: ignore[return-value]


def settings_from(**overrides: Any) -> Settings:
    return Settings().with_overrides(**overrides)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


@app.command()
@user_errors
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="files or folders (txt, md, html, pdf, jsonl)")],
    index: IndexOption = None,
    prune: Annotated[bool, typer.Option(help="remove documents no longer under the given paths")] = False,
    rebuild: Annotated[bool, typer.Option(help="start a fresh index instead of updating")] = False,
    embedder: Annotated[str | None, typer.Option(help="embedding model [env RAG_EMBEDDER]")] = None,
    chunk_size: Annotated[int | None, typer.Option(help="chunk size in tokens")] = None,
    chunk_overlap: Annotated[int | None, typer.Option(help="chunk overlap in tokens")] = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Add, update (and with --prune remove) documents in an index, incrementally and atomically."""
    setup_logging(verbose)
    from ingest.pipeline import Ingestor

    settings = settings_from(index=index, embedder=embedder, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    report = Ingestor(settings).run(paths, settings.index, prune=prune, rebuild=rebuild, progress=not as_json)
    if as_json:
        emit_json(report.to_dict())
        return
    summary = report.to_dict()
    _stderr().print(
        f"[bold]{settings.index}[/]: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.removed} removed, {len(report.skipped)} skipped; {report.documents} documents, "
        f"{report.chunks} chunks ({report.chunks_added} embedded in {summary['seconds']} s)"
    )
    for path, reason in report.skipped:
        _stderr().print(f"  skipped {path}: {reason}")


@app.command()
@user_errors
def search(
    query: Annotated[str, typer.Argument(help="search text")],
    index: IndexOption = None,
    k: Annotated[int | None, typer.Option("-k", help="number of hits")] = None,
    mode: Annotated[str | None, typer.Option(help="dense | bm25 | hybrid")] = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Retrieve the passages most relevant to a query."""
    setup_logging(verbose)
    from rag.pipeline import Pipeline

    settings = settings_from(index=index, top_k=k, retrieval_mode=mode)
    passages = Pipeline.from_settings(settings).search(query)
    hits = [
        {
            "rank": p.rank,
            "score": round(p.score, 6),
            "chunk_id": p.chunk.chunk_id,
            "doc_id": p.chunk.doc_id,
            "title": p.chunk.title,
            "source": p.chunk.source,
            "page": p.chunk.page,
            "text": p.chunk.text,
        }
        for p in passages
    ]
    if as_json:
        emit_json(hits)
        return
    from rich.table import Table

    table = Table("rank", "score", "doc", "text", show_lines=True)
    for hit in hits:
        text = hit["text"] if len(hit["text"]) < 300 else hit["text"][:300] + "…"
        table.add_row(str(hit["rank"]), f"{hit['score']:.4f}", str(hit["doc_id"]), text)
    _stdout().print(table)


@app.command()
@user_errors
def ask(
    question: Annotated[str, typer.Argument(help="the question")],
    index: IndexOption = None,
    k: Annotated[int | None, typer.Option("-k", help="passages to retrieve")] = None,
    policy: Annotated[str | None, typer.Option(help="annotate | filter | strict")] = None,
    backend: Annotated[str | None, typer.Option(help="llamacpp | transformers | openai")] = None,
    model: Annotated[str | None, typer.Option(help="GGUF path, model dir or endpoint model name")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint")] = None,
    scorer: Annotated[str | None, typer.Option(help="support scorer: trained | heuristic | nli")] = None,
    mode: Annotated[str | None, typer.Option(help="dense | bm25 | hybrid")] = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Answer from the index with verified citations, or abstain when the corpus does not say."""
    setup_logging(verbose)
    from rag.pipeline import Pipeline

    settings = settings_from(
        index=index,
        top_k=k,
        policy=policy,
        backend=backend,
        model=model,
        base_url=base_url,
        scorer=scorer,
        retrieval_mode=mode,
    )
    pipeline = Pipeline.from_settings(settings)
    with _stderr().status("loading models"):
        pipeline.warm_up()
    answer = pipeline.ask(question)
    if as_json:
        emit_json(answer.to_dict())
    else:
        from rag.display import show_answer

        show_answer(answer, _stdout())


@app.command()
@user_errors
def stats(index: IndexOption = None, as_json: JsonOption = False) -> None:
    """Show what an index holds and what it was built with."""
    from dataclasses import asdict

    from ingest.index import Index

    settings = settings_from(index=index)
    opened = Index.open(settings.index)
    data = {
        "index": str(settings.index),
        "generation": opened.generation.name,
        **asdict(opened.manifest),
        **opened.store.counts(),
    }
    if as_json:
        emit_json(data)
    else:
        for key, value in data.items():
            _stdout().print(f"{key:>15}: {value}")


@app.command()
@user_errors
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


@app.command("eval")
@user_errors
def evaluate(
    dataset: Annotated[Path, typer.Option(help="eval set (JSONL: id, question, answers, gold_doc_ids)")],
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
    scorer: Annotated[str | None, typer.Option(help="support scorer: trained | heuristic | nli")] = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Measure hallucination: faithfulness, citation recall/precision, abstention, answer and retrieval quality."""
    setup_logging(verbose)
    from eval.report import fmt, fmt_ci, metric_rows
    from eval.runner import parse_fail_under, run_eval

    thresholds = parse_fail_under(fail_under) if fail_under else None
    settings = settings_from(index=index, top_k=k, policy=policy, scorer=scorer)
    summary = run_eval(settings, dataset, out, limit, judge, retrieval_only, thresholds, progress=not as_json)
    if as_json:
        emit_json(summary)
    else:
        from rich.table import Table

        table = Table("metric", "value [95% CI]", "n", title=f"{dataset} -> {out}")
        for name, entry in metric_rows(summary):
            table.add_row(name, f"{fmt(entry['value'])} {fmt_ci(entry)}", str(entry.get("n", "")))
        _stdout().print(table)
    missed = summary["fail_under"]["missed"]
    if missed:
        print("below threshold: " + "; ".join(missed), file=sys.stderr)
        raise typer.Exit(1)


@app.command()
@user_errors
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
        print_comparison(rows, str(run_a), str(run_b), _stdout())


@app.command()
@user_errors
def serve(
    index: IndexOption = None,
    host: Annotated[str, typer.Option(help="interface to bind; non-loopback needs --api-key")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    api_key: Annotated[
        str | None, typer.Option(envvar="RAG_API_KEY", help="require this X-API-Key header [env RAG_API_KEY]")
    ] = None,
    allow_ingest: Annotated[bool, typer.Option(help="enable POST /ingest (uploads only)")] = False,
    verbose: VerboseOption = False,
) -> None:
    """Serve the HTTP API and the web page; models load once at start-up."""
    setup_logging(verbose)
    from rag.serve.app import serve as run_server

    run_server(settings_from(index=index), host=host, port=port, api_key=api_key, allow_ingest=allow_ingest)


@app.command("eval-verifier")
@user_errors
def eval_verifier(
    dataset: Annotated[Path, typer.Option(help="labelled premise/claim file")],
    fmt: Annotated[str, typer.Option("--format", help="wice | halueval | pairs")],
    out: Annotated[Path | None, typer.Option(help="directory for summary.json and scores.jsonl")] = None,
    scorer: Annotated[str | None, typer.Option(help="support scorer: trained | heuristic | nli")] = None,
    split: Annotated[str, typer.Option(help="all | dev | heldout (the project's fixed held-out part)")] = "all",
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Measure a support scorer on labelled claims: balanced accuracy, F1 of 'unsupported', AUROC, pairs/s."""
    setup_logging(verbose)
    from eval.verifier_eval import eval_verifier_command

    eval_verifier_command(dataset, fmt, out, scorer or "", as_json, split)


if __name__ == "__main__":
    app()
