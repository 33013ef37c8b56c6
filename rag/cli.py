"""The `rag` command line: ingest, search, ask, stats and serve here; the evaluation commands (eval, convert,
compare, eval-verifier) come from eval/cli.py, resolved by name from rag.registry. Logs go to stderr, `--json`
to stdout. Heavy libraries are imported inside each command, so `rag --help` starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag import registry
from rag.config import load_settings
from rag.console import (
    IndexOption,
    JsonOption,
    VerboseOption,
    emit_json,
    setup_logging,
    stderr_console,
    stdout_console,
    user_errors,
)

WhereOption = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        help="filter, repeatable (AND): path=GLOB, type=pdf,md, page=3-7 (or >=, <=), ingested>=2026-11-01",
    ),
]

app = typer.Typer(
    help="grounded-rag: answers with verified citations, or says the corpus does not say.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


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
    engine: Annotated[str | None, typer.Option(help="local (this process) | ray (Ray Data) [env RAG_ENGINE]")] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="--engine ray: auto | ray://HOST:10001; unset: a local Ray instance")
    ] = None,
    ray_workers: Annotated[
        int | None, typer.Option(help="--engine ray: embedder actors (default: one per CPU)")
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            help="vector store: faiss | milvus-lite:///path/index.db | http://host:19530 (default: the index's)"
        ),
    ] = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Add, update (and with --prune remove) documents in an index, incrementally and atomically."""
    setup_logging(verbose)
    settings = load_settings(
        index=index,
        embedder=embedder,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        engine=engine,
        ray_address=ray_address,
        ray_workers=ray_workers,
        store=store,
    )
    engine = registry.create("engine", settings.engine, settings)
    report = engine.run(paths, settings.index, prune=prune, rebuild=rebuild, progress=not as_json)
    if as_json:
        emit_json(report.to_dict())
        return
    summary = report.to_dict()
    stderr_console().print(
        f"[bold]{settings.index}[/]: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.removed} removed, {len(report.skipped)} skipped; {report.documents} documents, "
        f"{report.chunks} chunks ({report.chunks_added} embedded in {summary['seconds']} s)"
    )
    for path, reason in report.skipped:
        stderr_console().print(f"  skipped {path}: {reason}")


@app.command()
@user_errors
def search(
    query: Annotated[str, typer.Argument(help="search text")],
    index: IndexOption = None,
    k: Annotated[int | None, typer.Option("-k", help="number of hits")] = None,
    mode: Annotated[str | None, typer.Option(help="dense | bm25 | hybrid")] = None,
    where: WhereOption = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Retrieve the passages most relevant to a query."""
    setup_logging(verbose)
    from rag.pipeline import Pipeline

    settings = load_settings(index=index, top_k=k, retrieval_mode=mode)
    passages = Pipeline.from_settings(settings).search(query, where=where)
    hits = [p.to_dict(n) for n, p in enumerate(passages, start=1)]
    if as_json:
        emit_json(hits)
        return
    from rich.table import Table

    table = Table("n", "score", "doc", "text", show_lines=True)
    for hit in hits:
        text = hit["text"] if len(hit["text"]) < 300 else hit["text"][:300] + "…"
        table.add_row(str(hit["n"]), f"{hit['score']:.4f}", str(hit["doc_id"]), text)
    stdout_console().print(table)


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
    where: WhereOption = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Answer from the index with verified citations, or abstain when the corpus does not say."""
    setup_logging(verbose)
    from rag.pipeline import Pipeline

    settings = load_settings(
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
    with stderr_console().status("loading models"):
        pipeline.warm_up()
    answer = pipeline.ask(question, where=where)
    if as_json:
        emit_json(answer.to_dict())
    else:
        from rag.display import show_answer

        show_answer(answer, stdout_console())


@app.command()
@user_errors
def stats(index: IndexOption = None, as_json: JsonOption = False) -> None:
    """Show what an index holds and what it was built with."""
    from dataclasses import asdict

    from rag.index.generations import Index

    settings = load_settings(index=index)
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
            stdout_console().print(f"{key:>15}: {value}")


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

    run_server(load_settings(index=index), host=host, port=port, api_key=api_key, allow_ingest=allow_ingest)


def add_commands(cli: typer.Typer) -> None:
    """The commands of the packages above rag (evaluation), resolved by name from rag.registry."""
    for name in registry.names("command"):
        cli.command(name)(user_errors(registry.resolve("command", name)))


add_commands(app)


if __name__ == "__main__":
    app()
