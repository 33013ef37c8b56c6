"""What every `rag` command shares: logging on stderr, `--json` on stdout, one-line errors with exit status
2 instead of tracebacks, and the common options."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from rag.errors import RagError

F = TypeVar("F", bound=Callable[..., Any])

IndexOption = Annotated[Path | None, typer.Option("--index", help="index directory [env RAG_INDEX]")]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="debug logging on stderr")]


def setup_logging(verbose: bool = False) -> None:
    from rich.logging import RichHandler

    handler = RichHandler(console=stderr_console(), show_path=False, show_time=False)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], format="%(message)s", force=True
    )
    for noisy in ("httpx", "sentence_transformers", "urllib3", "filelock", "faiss", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def stdout_console() -> Any:
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


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
