"""Errors a user can act on. Each carries a one-line message; the CLI prints it without a traceback."""


class RagError(Exception):
    """Base class: a problem the user can fix, described in one line."""


class ModelNotFoundError(RagError):
    """A configured model cannot be loaded offline."""

    def __init__(self, setting: str, value: str, detail: str = "") -> None:
        hint = f" ({detail})" if detail else ""
        super().__init__(
            f"model {value!r} for setting {setting} could not be loaded offline{hint}; "
            f"set {setting} (env RAG_{setting.upper()}) to a local path or an installed model"
        )


class IndexMismatchError(RagError):
    """The index on disk was built by another format version or embedder."""


class UnknownNameError(RagError):
    """A strategy name that no registry knows."""


class InputError(RagError):
    """Bad input from the user: an empty or oversized question, an unreadable path."""


class QuestionTooLong(InputError):
    """A question over the max_question_chars limit (HTTP 413)."""
