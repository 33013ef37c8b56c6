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


class IndexDamagedError(RagError):
    """The live index cannot be read: a file of it is missing, truncated or corrupt."""

    def __init__(self, root: object, what: str) -> None:
        super().__init__(
            f"the index at {root} is damaged ({what}): rebuild it with `rag ingest DOCS --index {root} --rebuild`"
        )


class IndexWriteError(RagError):
    """A new index generation could not be written (disk full, read-only, no permission); the live one is as
    it was."""

    def __init__(self, root: object, reason: str) -> None:
        super().__init__(
            f"could not write the index at {root} ({reason}): free disk space or make it writable, then run the "
            "ingest again; the live index is unchanged"
        )


class IndexLockedError(RagError):
    """Another ingest holds the index's lock."""


class Cancelled(RagError):
    """Work stopped on request (the client went away, the request timed out, the server is shutting down)."""
