"""The `rag` command line: ingest, search, ask, chat, stats, serve and mcp here; the evaluation commands (eval, convert,
compare, eval-verifier) come from eval/cli.py, resolved by name from rag.registry. Logs go to stderr, `--json`
to stdout. Heavy libraries are imported inside each command, so `rag --help` starts fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from rag.question import validate_question

if TYPE_CHECKING:
    from rag.index.filters import Where

SCORERS = " | ".join(registry.names("scorer"))
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
    paths: Annotated[
        list[Path], typer.Argument(help="files or folders (txt, md, html, pdf, docx, pptx, xlsx, csv, jsonl)")
    ],
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
    from rich.markup import escape

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
        stderr_console().print(f"  skipped {path}: {reason}", markup=False, highlight=False)
    for warning in report.warnings:
        stderr_console().print(f"[yellow]warning:[/] {escape(warning)}")


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
    if not hits:
        stderr_console().print(f"no passage of {settings.index} matches the query (mode {settings.retrieval_mode})")
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
    composition: Annotated[str | None, typer.Option(help="free | quote | extractive")] = None,
    backend: Annotated[str | None, typer.Option(help="llamacpp | transformers | openai")] = None,
    model: Annotated[str | None, typer.Option(help="GGUF path, model dir or endpoint model name")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint")] = None,
    scorer: Annotated[str | None, typer.Option(help=f"support scorer: {SCORERS}")] = None,
    mode: Annotated[str | None, typer.Option(help="dense | bm25 | hybrid")] = None,
    where: WhereOption = None,
    show_removed: Annotated[bool, typer.Option(help="also show the sentences verification withheld")] = False,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Answer from the index with verified citations, or abstain when the corpus does not say."""
    settings = load_settings(
        index=index,
        top_k=k,
        policy=policy,
        composition=composition,
        backend=backend,
        model=model,
        base_url=base_url,
        scorer=scorer,
        retrieval_mode=mode,
    )
    validate_question(question, settings.max_question_chars)  # refused before anything heavy is imported
    from rag.index.filters import as_where

    filters = as_where(where)  # a bad filter too
    setup_logging(verbose)
    from rag.pipeline import Pipeline

    pipeline = Pipeline.from_settings(settings)
    answer = answer_with_progress(pipeline, question, where=filters)
    if as_json:
        emit_json(answer.to_dict())
    else:
        from rag.display import show_answer

        show_answer(answer, stdout_console(), show_removed=show_removed)


STAGE_NAMES = {
    "retrieve": "retrieving",
    "context": "selecting context",
    "prompt": "building the prompt",
    "generate": "generating",
    "verify": "verifying",
    "select": "choosing the answering sentence",
}


def answer_with_progress(pipeline: Any, question: str, where: Where | None = None) -> Any:
    """The answer (to passages that meet `where`), with the stage it is in (and the tokens generated so far)
    shown on stderr."""
    answer = None
    tokens = 0
    with stderr_console().status("loading models") as status:
        pipeline.warm_up()
        for kind, payload in pipeline.ask_stream(question, where=where):
            if kind == "stage":
                stage = STAGE_NAMES.get(payload, payload)
                status.update(stage)
            elif kind == "token":
                tokens += 1
                status.update(f"{stage} ({tokens} tokens)")
            elif kind == "answer":
                answer = payload
    return answer


@app.command()
@user_errors
def chat(
    index: IndexOption = None,
    k: Annotated[int | None, typer.Option("-k", help="passages to retrieve")] = None,
    policy: Annotated[str | None, typer.Option(help="annotate | filter | strict")] = None,
    backend: Annotated[str | None, typer.Option(help="llamacpp | transformers | openai")] = None,
    model: Annotated[str | None, typer.Option(help="GGUF path, model dir or endpoint model name")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint")] = None,
    rewriter: Annotated[str | None, typer.Option(help="follow-up rewriting: rules | generator")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line per turn on stdout")] = False,
    verbose: VerboseOption = False,
) -> None:
    """Talk with the index: one question a line; each follow-up ("and when did it close?") is rewritten into a
    standalone question, then answered and verified like `rag ask`. /new starts over, /quit (or EOF) ends."""
    setup_logging(verbose)
    from rag.chat import Conversation, load_rewriter
    from rag.pipeline import Pipeline

    settings = load_settings(
        index=index, top_k=k, policy=policy, backend=backend, model=model, base_url=base_url, rewriter=rewriter
    )
    pipeline = Pipeline.from_settings(settings)
    with stderr_console().status("loading models"):
        pipeline.warm_up()
    converse(Conversation(pipeline, load_rewriter(settings, pipeline)), typed_lines(), as_json)


def typed_lines() -> Iterator[str]:
    """Lines from stdin: read with a prompt (and line editing) at a terminal, as they come from a pipe."""
    if not sys.stdin.isatty():
        yield from sys.stdin
        return
    while True:
        try:
            yield input("you> ")
        except EOFError:
            return


def converse(conversation: Any, lines: Iterable[str], as_json: bool) -> None:
    """The chat loop: each line a question (or /new, /quit); a bad question is a one-line error, not an exit."""
    from rag.display import show_answer
    from rag.errors import InputError

    for line in lines:
        question = line.strip()
        if question in ("/quit", "/exit"):
            return
        if question == "/new":
            conversation.reset()
            print("(new conversation)", file=sys.stderr)
            continue
        if not question:
            continue
        try:
            turn = conversation.ask(question)
        except InputError as error:
            print(f"error: {error}", file=sys.stderr)
            continue
        if as_json:
            sys.stdout.write(json.dumps(turn.to_dict(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
            continue
        if turn.rewritten:
            from rich.text import Text

            stdout_console().print(Text.assemble(("asked as: ", "dim"), turn.standalone))
        show_answer(turn.answer, stdout_console())


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
    allowed_host: Annotated[
        list[str] | None, typer.Option(help="a Host name to answer besides loopback ones (a proxy's); repeatable")
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """Serve the HTTP API and the web page; models load once at start-up."""
    setup_logging(verbose)
    from rag.serve.app import serve as run_server

    run_server(
        load_settings(index=index),
        host=host,
        port=port,
        api_key=api_key,
        allow_ingest=allow_ingest,
        allowed_hosts=tuple(allowed_host or ()),
    )


@app.command()
@user_errors
def mcp(
    index: IndexOption = None,
    k: Annotated[int | None, typer.Option("-k", help="default passages per call")] = None,
    policy: Annotated[str | None, typer.Option(help="default policy: annotate | filter | strict")] = None,
    backend: Annotated[str | None, typer.Option(help="llamacpp | transformers | openai")] = None,
    model: Annotated[str | None, typer.Option(help="GGUF path, model dir or endpoint model name")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint")] = None,
    verbose: VerboseOption = False,
) -> None:
    """Serve the tools `search` and `ask` to an MCP client over stdio (the same JSON as --json)."""
    setup_logging(verbose)
    from rag.mcp_server import serve_stdio
    from rag.pipeline import Pipeline

    settings = load_settings(index=index, top_k=k, policy=policy, backend=backend, model=model, base_url=base_url)
    serve_stdio(Pipeline.from_settings(settings))


def add_commands(cli: typer.Typer) -> None:
    """The commands of the packages above rag (evaluation), resolved by name from rag.registry."""
    for name in registry.names("command"):
        cli.command(name)(user_errors(registry.resolve("command", name)))


add_commands(app)


if __name__ == "__main__":
    app()
