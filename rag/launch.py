"""The `rag` command's entry point: `rag ask QUESTION` with a question that cannot be asked (empty, not valid
Unicode, over the limit) is refused here, before the command line (typer) and the settings (pydantic) are
imported, in about the time Python takes to start; everything else is handed to rag.cli unchanged."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from rag.errors import RagError
from rag.question import MAX_QUESTION_CHARS, validate_question

LIMIT_VARIABLE = "RAG_MAX_QUESTION_CHARS"


def early_refusal(argv: Sequence[str]) -> str | None:
    """The one-line error for `rag ask QUESTION ...` when QUESTION, given right after `ask`, cannot be asked;
    None when there is nothing to refuse here (another command, options first, help, or an unreadable limit,
    which the full command line then reports)."""
    if len(argv) < 2 or argv[0] != "ask" or argv[1].startswith("-") or "--help" in argv:
        return None
    limit = os.environ.get(LIMIT_VARIABLE, str(MAX_QUESTION_CHARS))
    if not limit.isdigit() or int(limit) < 1:
        return None
    try:
        validate_question(argv[1], int(limit))
    except RagError as error:
        return f"error: {error}"
    return None


def main() -> None:
    refusal = early_refusal(sys.argv[1:])
    if refusal:
        print(refusal, file=sys.stderr)
        raise SystemExit(2)
    from rag.cli import app

    app()
