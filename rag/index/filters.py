"""Metadata filters for search and ask: source path glob, file type, page range and ingest time.

One `Where` record, parsed from the same strings everywhere (`--where` in the CLI, `where` in the HTTP API,
`where=` in the Python API):

    path=history/*.md         glob on the source file's path relative to the folder it was ingested from
    type=pdf,md               file types (the source file's suffix)
    page=3  page=3-7  page>=3  page<=7
    ingested>=2026-11-01  ingested<=2026-11-30T18:00   ISO date or time (local time unless it has an offset)
                                                       or Unix seconds

Conditions combine with AND. The FAISS store filters through the SQLite chunk store (`sql()`), Milvus with a
filter expression over the same fields stored beside each vector (`milvus()`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from rag.errors import InputError

EXPRESSION = re.compile(r"^\s*(path|type|page|ingested)\s*(>=|<=|=)\s*(.+?)\s*$")
HELP = "path=GLOB, type=pdf,md, page=3 | page=3-7 | page>=3 | page<=7, ingested>=DATE | ingested<=DATE"


@dataclass(frozen=True, slots=True)
class Where:
    """Conditions a passage must meet; None or empty means no condition on that field."""

    path: str | None = None
    file_types: tuple[str, ...] = ()
    page_from: int | None = None
    page_to: int | None = None
    ingested_from: float | None = None  # Unix seconds, inclusive
    ingested_to: float | None = None

    def __bool__(self) -> bool:
        return self != Where()

    @classmethod
    def parse(cls, expressions: Iterable[str]) -> Where:
        """`Where` from expressions like "path=docs/*.md"; InputError naming the bad one."""
        where = cls()
        for expression in expressions:
            match = EXPRESSION.match(expression)
            if match is None:
                raise InputError(f"bad filter {expression!r}; use {HELP}")
            where = where._with(*match.groups(), expression)
        return where

    def _with(self, field: str, op: str, value: str, expression: str) -> Where:
        if field == "path" and op == "=":
            return replace(self, path=value)
        if field == "type" and op == "=":
            return replace(self, file_types=tuple(t.strip().lstrip(".").lower() for t in value.split(",") if t))
        if field == "page":
            low, high = _page_range(op, value, expression)
            return replace(
                self, page_from=_tighter(self.page_from, low, max), page_to=_tighter(self.page_to, high, min)
            )
        if field == "ingested" and op != "=":
            seconds = _seconds(value, expression)
            if op == ">=":
                return replace(self, ingested_from=seconds)
            return replace(self, ingested_to=seconds)
        raise InputError(f"bad filter {expression!r}; use {HELP}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "file_types": list(self.file_types),
            "page_from": self.page_from,
            "page_to": self.page_to,
            "ingested_from": self.ingested_from,
            "ingested_to": self.ingested_to,
        }

    def sql(self) -> tuple[str, list[Any]]:
        """A WHERE clause over `chunks c JOIN documents d`, and its parameters."""
        clauses: list[str] = []
        parameters: list[Any] = []
        if self.path is not None:
            clauses.append("d.path GLOB ?")
            parameters.append(self.path)
        if self.file_types:
            clauses.append(f"d.file_type IN ({','.join('?' * len(self.file_types))})")
            parameters.extend(self.file_types)
        for clause, value in (
            ("c.page >= ?", self.page_from),
            ("c.page <= ?", self.page_to),
            ("d.ingested_at >= ?", self.ingested_from),
            ("d.ingested_at <= ?", self.ingested_to),
        ):
            if value is not None:
                clauses.append(clause)
                parameters.append(value)
        return " AND ".join(clauses) or "1", parameters

    def milvus(self) -> str:
        """The same conditions as a Milvus filter expression over the fields stored beside each vector."""
        clauses: list[str] = []
        if self.path is not None:
            clauses.append(f"path like {_quoted(_glob_to_like(self.path))}")
        if self.file_types:
            clauses.append(f"file_type in [{', '.join(_quoted(t) for t in self.file_types)}]")
        if self.page_from is not None or self.page_to is not None:
            clauses.append("page >= 0")  # chunks without a page (-1) never meet a page condition
        for clause, value in (
            ("page >= {}", self.page_from),
            ("page <= {}", self.page_to),
            ("ingested_at >= {}", self.ingested_from),
            ("ingested_at <= {}", self.ingested_to),
        ):
            if value is not None:
                clauses.append(clause.format(value))
        return " and ".join(clauses)


def as_where(where: Where | Iterable[str] | None) -> Where | None:
    """A `Where`, or None for no filter, from a `Where` or filter expressions."""
    if where is None or isinstance(where, Where):
        return where or None
    return Where.parse(where) or None


def _page_range(op: str, value: str, expression: str) -> tuple[int | None, int | None]:
    try:
        if op == ">=":
            return int(value), None
        if op == "<=":
            return None, int(value)
        low, _, high = value.partition("-")
        return int(low), int(high or low)
    except ValueError:
        raise InputError(f"bad page in filter {expression!r}: use page=3, page=3-7, page>=3 or page<=7") from None


def _tighter(current: int | None, new: int | None, pick: Any) -> int | None:
    if new is None:
        return current
    return new if current is None else pick(current, new)


def _seconds(value: str, expression: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"bad time in filter {expression!r}: use an ISO date (2026-11-01) or Unix seconds") from None
    return (moment if moment.tzinfo else moment.astimezone()).timestamp()


def _glob_to_like(glob: str) -> str:
    """A glob (* and ?) as a LIKE pattern (% and _); the characters LIKE treats specially are escaped."""
    if any(c in glob for c in "[]"):
        raise InputError(f"the Milvus store supports * and ? in path filters, not character classes: {glob!r}")
    escaped = glob.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
