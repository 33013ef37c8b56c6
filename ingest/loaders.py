"""Loaders: one function per file type (named by suffix in rag.registry), each turning a file into Documents
with page and heading sections.

Unknown types, empty, binary, oversized or corrupt files raise SkipFile with a reason the ingest report
shows; nothing here ever aborts a whole run. Each document is loaded within a Budget: so many characters of
text and so many seconds, past which it is skipped with the setting named; its cancel event stops the run.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from rag import registry
from rag.errors import Cancelled, RagError
from rag.records import Document, Section

log = logging.getLogger(__name__)

BINARY_SNIFF_BYTES = 8192
MARKDOWN_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
HTML_DROPPED = "script, style, noscript, nav, header, footer, aside, form, iframe, svg, template, button"
HTML_BLOCKS = "h1, h2, h3, h4, h5, h6, p, li, pre, blockquote, td, th, dt, dd, figcaption, caption"


class SkipFile(RagError):
    """A file (or record) that cannot be ingested, with the reason."""


@dataclass
class Budget:
    """What loading and chunking one document may cost: characters of extracted text (setting
    max_document_chars) and seconds (max_file_seconds), each a SkipFile naming the setting when passed; a set
    `cancel` event stops the whole ingest (Cancelled). `start()` begins the next document's budget."""

    max_chars: int | None = None
    max_seconds: float | None = None
    cancel: threading.Event | None = None
    chars: int = 0
    started: float = field(default_factory=time.monotonic)

    def start(self) -> None:
        self.chars, self.started = 0, time.monotonic()

    def charge(self, chars: int) -> None:
        """Count `chars` more characters of text."""
        self.chars += chars
        if self.max_chars is not None and self.chars > self.max_chars:
            raise SkipFile(f"more than max_document_chars={self.max_chars} characters of text")
        self.check()

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("the ingest was cancelled; the live index is unchanged")

    def check(self) -> None:
        self.check_cancel()
        if self.max_seconds is not None and time.monotonic() - self.started > self.max_seconds:
            raise SkipFile(f"took more than max_file_seconds={self.max_seconds:g} s to load and chunk")


Loader = Callable[[Path, str, Budget], Iterator[Document]]


def suffix_of(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def supported_suffixes() -> list[str]:
    return registry.names("loader")


def load(path: Path, doc_id: str, budget: Budget | None = None) -> Iterator[Document]:
    """Documents from one file, its loader chosen by suffix from rag.registry; SkipFile for anything unloadable."""
    suffix = suffix_of(path)
    if suffix not in supported_suffixes():
        raise SkipFile(f"unsupported file type .{suffix or '(none)'}")
    if path.stat().st_size == 0:
        raise SkipFile("empty file")
    loader: Loader = registry.resolve("loader", suffix)
    return loader(path, doc_id, budget or Budget())


# A byte-order mark names its encoding; the UTF-32 ones first, since UTF-32 LE's begins with UTF-16 LE's.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
ENCODING_CHAOS_MARGIN = 0.01  # charset-normalizer decodings this close to the best one count as ties


def decode(data: bytes, path: Path) -> str:
    """Bytes to text: the encoding a BOM names, else UTF-8 when valid, else the encoding charset-normalizer
    detects; SkipFile for binary content or bytes no encoding makes credible text of."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as error:
                raise SkipFile(f"not valid {encoding.upper()} although it starts with its byte-order mark") from error
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise SkipFile("binary content")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = detected(data)
    if best is None:
        raise SkipFile("no credible text encoding: not UTF-8, and no charset decodes it as text")
    log.warning("%s is not UTF-8; decoded as %s", path, best.encoding)
    return str(best)


def detected(data: bytes) -> Any:
    """charset-normalizer's best decoding of `data` (None when none is credible). Single-byte charsets often
    tie (Latin-1's ø is cp1250's ř); a tie goes to the decoding whose non-ASCII characters its language
    frequency tables say are most used by some language."""
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        return None
    tied = [m for m in matches if m.chaos <= best.chaos + ENCODING_CHAOS_MARGIN]
    return max(tied, key=lambda m: (letters_fit(str(m)), m.coherence))


@cache
def common_letters() -> list[frozenset[str]]:
    """Per language, the letters charset-normalizer's frequency tables list as most used."""
    from charset_normalizer.constant import FREQUENCIES

    return [frozenset(letters) for letters in FREQUENCIES.values()]


def letters_fit(text: str) -> float:
    """The largest share of the non-ASCII characters of `text` that one language uses often (1 when none)."""
    foreign = Counter(c.lower() for c in text if ord(c) > 127)
    total = sum(foreign.values())
    if not total:
        return 1.0
    return max(sum(n for c, n in foreign.items() if c in common) for common in common_letters()) / total


def read_text(path: Path, budget: Budget) -> str:
    text = decode(path.read_bytes(), path)
    budget.charge(len(text))
    if not text.strip():
        raise SkipFile("no text content")
    return text


def title_from_path(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip().capitalize()


def build_document(doc_id: str, path: Path, text: str, title: str, sections: list[Section]) -> Document:
    return Document(doc_id=doc_id, text=text, title=title, source=str(path), sections=tuple(sections))


def load_txt(path: Path, doc_id: str, budget: Budget) -> Iterator[Document]:
    yield build_document(doc_id, path, read_text(path, budget), title_from_path(path), [])


def markdown_sections(text: str) -> list[Section]:
    """A section at each markdown heading, carrying the path of enclosing headings."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    for match in MARKDOWN_HEADING.finditer(text):
        level, heading = len(match.group(1)), match.group(2).strip()
        stack = [(lvl, h) for lvl, h in stack if lvl < level] + [(level, heading)]
        sections.append(Section(start=match.start(), heading=tuple(h for _, h in stack)))
    return sections


def load_markdown(path: Path, doc_id: str, budget: Budget) -> Iterator[Document]:
    text = read_text(path, budget)
    sections = markdown_sections(text)
    title = sections[0].heading[0] if sections else title_from_path(path)
    yield build_document(doc_id, path, text, title, sections)


def load_html(path: Path, doc_id: str, budget: Budget) -> Iterator[Document]:
    """Visible text of the page's main content, one block per paragraph, headings kept as sections."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(decode(path.read_bytes(), path))
    title_node = tree.css_first("title")
    for node in tree.css(HTML_DROPPED):
        node.decompose()
    root = tree.css_first("main") or tree.css_first("article") or tree.body or tree.root
    parts: list[str] = []
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    offset = 0
    for node in root.css(HTML_BLOCKS) if root is not None else []:
        block = " ".join(node.text(separator=" ").split())
        if not block or _inside_block(node):
            continue
        if node.tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            level = int(node.tag[1])
            stack = [(lvl, h) for lvl, h in stack if lvl < level] + [(level, block)]
            sections.append(Section(start=offset, heading=tuple(h for _, h in stack)))
        parts.append(block)
        offset += len(block) + 2
        budget.charge(len(block) + 2)
    text = "\n\n".join(parts)
    if not text.strip():
        raise SkipFile("no visible text in HTML")
    title = title_node.text(strip=True) if title_node is not None else ""
    title = title or (sections[0].heading[0] if sections else title_from_path(path))
    yield build_document(doc_id, path, text, title, sections)


HTML_BLOCK_TAGS = {t.strip() for t in HTML_BLOCKS.split(",")}


def _inside_block(node: object) -> bool:
    """True for a block nested in another block (its text is already part of the outer one)."""
    parent = getattr(node, "parent", None)
    while parent is not None:
        if parent.tag in HTML_BLOCK_TAGS:
            return True
        parent = parent.parent
    return False


def load_pdf(path: Path, doc_id: str, budget: Budget) -> Iterator[Document]:
    """Text of every page, pages separated by blank lines, each page a section with its number. The text is
    counted against the budget as pypdf extracts it, so a small file that expands to millions of characters
    is stopped within the page that passes the limit."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    def counted(text: str, *_: object) -> None:
        budget.charge(len(text))

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise SkipFile("encrypted PDF")
        pages = [(page.extract_text(visitor_text=counted) or "").strip() for page in reader.pages]
        metadata_title = (reader.metadata.title if reader.metadata else None) or ""
    except RagError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise SkipFile(f"unreadable PDF: {exc}") from exc
    parts: list[str] = []
    sections: list[Section] = []
    offset = 0
    for number, page_text in enumerate(pages, start=1):
        if not page_text:
            continue
        sections.append(Section(start=offset, page=number))
        parts.append(page_text)
        offset += len(page_text) + 2
    if not parts:
        raise SkipFile("PDF has no extractable text (scanned?)")
    yield build_document(doc_id, path, "\n\n".join(parts), metadata_title or title_from_path(path), sections)


def load_jsonl(path: Path, doc_id: str, budget: Budget) -> Iterator[Document]:
    """A corpus file, one document a line: {id or pid, title?, text, ...}; other fields become metadata.

    Streamed line by line; a bad line, or a record over its budget, is logged and skipped without stopping
    the file. Each record is a document with a budget of its own.
    """
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            budget.start()
            try:
                record = json.loads(decode(raw, path))
                record_id = str(record.get("id", record.get("pid", "")))
                text = record["text"]
                if not record_id or not isinstance(text, str) or not text.strip():
                    raise ValueError("needs a non-empty id/pid and text")
                budget.charge(len(text))
            except (ValueError, KeyError, TypeError, AttributeError, SkipFile) as exc:
                log.warning("%s line %d skipped: %s", path, number, exc)
                continue
            metadata = {k: v for k, v in record.items() if k not in {"id", "pid", "title", "text"}}
            yield Document(
                doc_id=record_id,
                text=text,
                title=str(record.get("title") or ""),
                source=f"{path}#L{number}",
                metadata=metadata,
            )
