"""The chunk store: documents and chunks (text, metadata, content hash) in an embedded SQLite database.

Besides text and offsets each document keeps what the metadata filters read (rag.index.filters): the source
file's path relative to the folder it was ingested from, its file type and when this version was ingested.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.errors import IndexDamagedError, RagError
from rag.index.filters import Where
from rag.records import Chunk, Document, SentenceSpan

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    hash TEXT NOT NULL,
    metadata TEXT NOT NULL,
    text TEXT NOT NULL,
    path TEXT NOT NULL DEFAULT '',
    file_type TEXT NOT NULL DEFAULT '',
    ingested_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    page INTEGER,
    heading TEXT NOT NULL,
    sentences TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id, ordinal);
"""

# Filter columns added after the first release: added to older stores when they are next written.
FILTER_COLUMNS = {
    "path": "TEXT NOT NULL DEFAULT ''",
    "file_type": "TEXT NOT NULL DEFAULT ''",
    "ingested_at": "REAL NOT NULL DEFAULT 0",
}

CHUNK_COLUMNS = (
    "c.chunk_id, c.doc_id, c.ordinal, c.text, c.start, c.end, d.title, d.source, c.page, c.heading, c.sentences"
)


def source_path(document: Document, root: str) -> str:
    """The path of the file a document came from, relative to the folder (or file) it was ingested from."""
    return relative_source(document.source or document.doc_id, root).partition("#L")[0]


def _chunk_from_row(row: Sequence[Any]) -> Chunk:
    chunk_id, doc_id, ordinal, text, start, end, title, source, page, heading, sentences = row
    return Chunk(
        chunk_id=chunk_id,
        doc_id=doc_id,
        ordinal=ordinal,
        text=text,
        start=start,
        end=end,
        title=title,
        source=source,
        page=page,
        heading=tuple(json.loads(heading)),
        sentences=tuple(SentenceSpan(t, s, e) for t, s, e in json.loads(sentences)),
    )


class ChunkStore:
    """Documents and their chunks; one SQLite file, written inside a transaction per ingest."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
        self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self.db.execute("PRAGMA foreign_keys = ON")
        self.migrated = False  # True once this (writable) store was given the filter columns
        if not read_only:
            self.db.executescript(SCHEMA)
            self._add_filter_columns()
        else:
            self._query("SELECT COUNT(*) FROM documents")  # a truncated or foreign file fails here, not mid-query

    def _add_filter_columns(self) -> None:
        """Give a store from before the filter columns those columns, filled in from what it holds."""
        present = {row[1] for row in self.db.execute("PRAGMA table_info(documents)")}
        missing = [name for name in FILTER_COLUMNS if name not in present]
        for name in missing:
            self.db.execute(f"ALTER TABLE documents ADD COLUMN {name} {FILTER_COLUMNS[name]}")
        self.migrated = bool(missing)
        if missing:
            rows = self.db.execute("SELECT doc_id, root, source FROM documents").fetchall()
            for doc_id, root, source in rows:
                path = source_path(Document(doc_id, "", source=source), root)
                self.db.execute(
                    "UPDATE documents SET path = ?, file_type = ? WHERE doc_id = ?", (path, file_type(path), doc_id)
                )

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of a query; a read-only store that SQLite finds corrupt is an IndexDamagedError."""
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as error:
            if not self.read_only:
                raise
            where = f"{self.path.parent.name}/{self.path.name}: {error}"
            raise IndexDamagedError(self.path.parent.parent, where) from error

    def close(self) -> None:
        self.db.close()

    def commit(self) -> None:
        self.db.commit()

    def documents(self) -> dict[str, tuple[str, str]]:
        """doc_id -> (root it was ingested from, content hash)."""
        return {d: (r, h) for d, r, h in self._query("SELECT doc_id, root, hash FROM documents")}

    def chunk_ids_of(self, doc_id: str) -> list[int]:
        rows = self._query("SELECT chunk_id FROM chunks WHERE doc_id = ? ORDER BY ordinal", (doc_id,))
        return [r[0] for r in rows]

    def put(self, document: Document, root: str, chunks: Iterable[Chunk], ingested_at: float | None = None) -> None:
        """Insert or replace a document and all its chunks."""
        self.delete(document.doc_id)
        path = source_path(document, root)
        self.db.execute(
            "INSERT INTO documents (doc_id, root, source, title, hash, metadata, text, path, file_type, ingested_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                document.doc_id,
                root,
                document.source,
                document.title,
                document.hash,
                json.dumps(dict(document.metadata), ensure_ascii=False, default=str),
                document.text,
                path,
                file_type(path),
                time.time() if ingested_at is None else ingested_at,
            ),
        )
        self.db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    c.chunk_id,
                    c.doc_id,
                    c.ordinal,
                    c.text,
                    c.start,
                    c.end,
                    c.page,
                    json.dumps(list(c.heading), ensure_ascii=False),
                    json.dumps([(s.text, s.start, s.end) for s in c.sentences], ensure_ascii=False),
                )
                for c in chunks
            ],
        )

    def delete(self, doc_id: str) -> list[int]:
        """Remove a document; returns the ids of the chunks that went with it."""
        removed = self.chunk_ids_of(doc_id)
        self.db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        self.db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        return removed

    def chunks(self, chunk_ids: Sequence[int]) -> list[Chunk]:
        """Chunks by id, in the order asked; unknown ids are left out."""
        if not chunk_ids:
            return []
        found: dict[int, Chunk] = {}
        for batch_start in range(0, len(chunk_ids), 500):
            batch = [int(i) for i in chunk_ids[batch_start : batch_start + 500]]
            marks = ",".join("?" * len(batch))
            query = (
                f"SELECT {CHUNK_COLUMNS} FROM chunks c JOIN documents d USING (doc_id) WHERE c.chunk_id IN ({marks})"
            )
            for row in self._query(query, batch):
                found[row[0]] = _chunk_from_row(row)
        return [found[int(i)] for i in chunk_ids if int(i) in found]

    def filter_fields(self, chunk_ids: Sequence[int]) -> list[dict[str, Any]]:
        """What the filters read of each chunk (path, file_type, page, ingested_at), for a vector store that
        keeps them beside the vectors; in the order asked."""
        rows: dict[int, dict[str, Any]] = {}
        for batch_start in range(0, len(chunk_ids), 500):
            batch = [int(i) for i in chunk_ids[batch_start : batch_start + 500]]
            query = (
                "SELECT c.chunk_id, d.path, d.file_type, c.page, d.ingested_at FROM chunks c JOIN documents d "
                f"USING (doc_id) WHERE c.chunk_id IN ({','.join('?' * len(batch))})"
            )
            for chunk_id, path, kind, page, ingested_at in self.db.execute(query, batch):
                rows[chunk_id] = {"path": path, "file_type": kind, "page": page, "ingested_at": ingested_at}
        return [rows[int(i)] for i in chunk_ids]

    def ids_where(self, where: Where) -> list[int]:
        """The ids of the chunks that meet the filter."""
        clause, parameters = where.sql()
        query = f"SELECT c.chunk_id FROM chunks c JOIN documents d USING (doc_id) WHERE {clause}"
        try:
            return [row[0] for row in self.db.execute(query, parameters)]
        except sqlite3.OperationalError as error:
            raise RagError(
                f"this index predates metadata filters ({error}): run `rag ingest DOCS --index INDEX` on it once"
            ) from None

    def iter_texts(self) -> Iterator[tuple[int, str]]:
        """(chunk_id, title + text) of every chunk, in id order, for building the BM25 index."""
        query = "SELECT c.chunk_id, d.title, c.text FROM chunks c JOIN documents d USING (doc_id) ORDER BY c.chunk_id"
        for chunk_id, title, text in self.db.execute(query):
            yield chunk_id, f"{title}\n{text}" if title else text

    def document(self, doc_id: str) -> dict[str, Any] | None:
        """A document's text and metadata; `source` is its path relative to the folder it was ingested from."""
        query = "SELECT doc_id, root, source, title, metadata, text FROM documents WHERE doc_id = ?"
        rows = self._query(query, (doc_id,))
        if not rows:
            return None
        doc_id, root, source, title, metadata, text = rows[0]
        return {
            "doc_id": doc_id,
            "source": relative_source(source, root),
            "title": title,
            "metadata": json.loads(metadata),
            "text": text,
        }

    def counts(self) -> dict[str, int]:
        documents = self._query("SELECT COUNT(*) FROM documents")[0][0]
        chunks = self._query("SELECT COUNT(*) FROM chunks")[0][0]
        return {"documents": documents, "chunks": chunks}


def file_type(path: str) -> str:
    """A source file's type: its suffix, lower case, without the dot."""
    return Path(path).suffix.lower().lstrip(".")


def relative_source(source: str, root: str) -> str:
    """A stored source ("/corpus/a/b.md", "/corpus/c.jsonl#L3") relative to the root it was ingested from
    ("a/b.md", "c.jsonl#L3"): where a document came from without how the server's disk is laid out."""
    path, mark, line = source.partition("#L")
    location = Path(path)
    try:
        relative = location.relative_to(root).as_posix()
    except ValueError:
        relative = ""
    return (relative if relative not in ("", ".") else location.name) + mark + line
