"""Token-aware chunking with langchain-text-splitters, measured in the embedder's own tokenizer.

Each chunk keeps its character offsets in the document (document.text[start:end] == chunk.text), the page
and heading path in force where it starts, and its sentences with document offsets for citing and quoting.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from functools import cached_property
from typing import Any

from rag.records import Chunk, Document
from rag.text import sentence_spans


def chunk_id_for(doc_id: str, doc_hash: str, ordinal: int) -> int:
    """A stable 63-bit id: the same document content always yields the same chunk ids."""
    digest = hashlib.blake2b(f"{doc_id}\0{doc_hash}\0{ordinal}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & ((1 << 63) - 1)


class Chunker:
    """Splits documents into overlapping chunks of at most `chunk_size` embedder tokens."""

    def __init__(self, tokenizer: Any, chunk_size: int, chunk_overlap: int) -> None:
        if chunk_overlap >= chunk_size:
            raise ValueError(f"chunk_overlap ({chunk_overlap}) must be smaller than chunk_size ({chunk_size})")
        self.tokenizer = tokenizer
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self._check: Callable[[], None] = lambda: None

    @cached_property
    def _splitter(self) -> Any:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        return RecursiveCharacterTextSplitter(
            length_function=self.token_count,
            chunk_size=self.chunk_size,
            chunk_overlap=self.chunk_overlap,
            separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
            keep_separator="end",
        )

    @cached_property
    def _encoder(self) -> Any:
        """A copy of the fast tokenizer's Rust encoder without padding or truncation; None for slow tokenizers."""
        # a Hugging Face fast tokenizer wraps one; the ONNX embedder's tokenizer is one (the `tokenizers` library)
        backend = getattr(
            self.tokenizer, "backend_tokenizer", self.tokenizer if hasattr(self.tokenizer, "encode_batch") else None
        )
        if backend is None:
            return None
        backend = copy.deepcopy(backend)
        backend.no_padding()
        backend.no_truncation()
        return backend

    def token_count(self, text: str) -> int:
        """Tokens of text without special tokens. The Rust encoder called directly gives the same count as
        tokenizer.tokenize about 2x faster, which matters: langchain calls this thousands of times a document
        (which is also why the budget check of `chunk` runs here)."""
        self._check()
        if self._encoder is not None:
            return len(self._encoder.encode(text, add_special_tokens=False).ids)
        return len(self.tokenizer.tokenize(text))

    def pieces(self, text: str) -> list[tuple[int, str]]:
        """(start offset, text) of every chunk, located in order like langchain's add_start_index."""
        located: list[tuple[int, str]] = []
        for piece in self._splitter.split_text(text):
            search_from = located[-1][0] + 1 if located else 0
            start = text.find(piece, search_from)
            located.append((start if start >= 0 else text.find(piece), piece))
        return located

    def chunk(self, document: Document, check: Callable[[], None] | None = None) -> list[Chunk]:
        """The document's chunks; `check` is called as the splitter works and may raise to stop it (a
        document over its time budget, a cancelled ingest)."""
        self._check = check or (lambda: None)
        try:
            pieces = self.pieces(document.text)
        finally:
            self._check = lambda: None
        doc_hash = document.hash
        chunks: list[Chunk] = []
        for ordinal, (start, text) in enumerate(pieces):
            section = document.section_at(start)
            chunks.append(
                Chunk(
                    chunk_id=chunk_id_for(document.doc_id, doc_hash, ordinal),
                    doc_id=document.doc_id,
                    ordinal=ordinal,
                    text=text,
                    start=start,
                    end=start + len(text),
                    title=document.title,
                    source=document.source,
                    page=section.page,
                    heading=section.heading,
                    sentences=tuple(sentence_spans(text, base=start)),
                )
            )
        return chunks
