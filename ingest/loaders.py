"""Loaders: one function per file type (named by suffix in rag.registry), each turning a file into Documents
with page and heading sections: headings of Markdown, HTML and Word documents, PDF pages, PowerPoint slide
numbers (as pages, with the slide title as heading) and spreadsheet sheet names (as headings). Table rows of
Word documents, spreadsheets and CSV files become one line each, "header: value; header: value.", so a row
reads as a sentence that can be retrieved, cited and checked.

Unknown types, empty, binary, oversized or corrupt files raise SkipFile with a reason the ingest report
shows; nothing here ever aborts a whole run. Each document is loaded within a Budget: so many characters of
text and so many seconds, past which it is skipped with the setting named; its cancel event stops the run.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import re
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
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


# ---------------------------------------------------------------------------------------------- office and data

# what a damaged or mislabelled Office file raises while it is opened or read (lxml's parse errors are SyntaxErrors)
OFFICE_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    KeyError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    SyntaxError,
    OSError,
)
CSV_DELIMITERS = ",;\t|"


class Blocks:
    """A document's text built from blocks separated by blank lines, with a Section where a heading path or a
    page (slide) begins; character offsets are those of the joined text. Each block is charged to the budget."""

    def __init__(self, budget: Budget) -> None:
        self.parts: list[str] = []
        self.sections: list[Section] = []
        self.offset = 0
        self.budget = budget

    def section(self, heading: Sequence[str] = (), page: int | None = None) -> None:
        self.sections.append(Section(start=self.offset, page=page, heading=tuple(heading)))

    def add(self, text: str) -> None:
        text = text.strip()
        if text:
            self.budget.charge(len(text) + 2)
            self.parts.append(text)
            self.offset += len(text) + 2

    @property
    def text(self) -> str:
        return "\n\n".join(self.parts)

    def document(self, doc_id: str, path: Path, title: str, kind: str) -> Document:
        if not self.text.strip():
            raise SkipFile(f"no text in {kind}")
        return build_document(doc_id, path, self.text, title or title_from_path(path), self.sections)


@contextmanager
def reading(kind: str, *errors: type[BaseException]) -> Iterator[None]:
    """Turn what a damaged file raises while it is read into SkipFile("unreadable KIND: ...")."""
    try:
        yield
    except SkipFile:
        raise
    except (*OFFICE_ERRORS, *errors) as exc:
        raise SkipFile(f"unreadable {kind}: {type(exc).__name__}: {exc}") from exc


def cell_text(value: Any) -> str:
    """A cell as text: whole floats without ".0", midnight datetimes as dates, None as empty."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return " ".join(str(value).split())


def row_lines(rows: Iterable[Sequence[Any]]) -> list[str]:
    """Table rows as lines: "header: value; header: value." for each row under a header row of labels (the
    header itself is not repeated alone), else the values joined by "; ". Empty rows are dropped."""
    cleaned = [cells for cells in ([cell_text(v) for v in row] for row in rows) if any(cells)]
    if not cleaned:
        return []
    header, body = cleaned[0], cleaned[1:]
    if not body or not all(header) or any(re.fullmatch(r"[\d.,%£$€-]+", h) for h in header):
        return [_sentence("; ".join(c for c in cells if c)) for cells in cleaned]
    lines = []
    for cells in body:
        pairs = [f"{h}: {v}" if h else v for h, v in zip(header, cells, strict=False) if v]
        lines.append(_sentence("; ".join(pairs + [v for v in cells[len(header) :] if v])))
    return lines


def _sentence(line: str) -> str:
    return line if line.endswith((".", "!", "?", ":")) else f"{line}."


def _unique_cells(cells: Iterable[Any]) -> list[str]:
    """The text of a Word or PowerPoint table row; a merged cell repeats itself and is kept once."""
    texts: list[str] = []
    for cell in cells:
        text = " ".join(cell.text.split())
        if not texts or text != texts[-1]:
            texts.append(text)
    return texts


def _heading_level(style_name: str) -> int | None:
    """0 for "Title", n for "Heading n"; None for body styles."""
    if style_name == "Title":
        return 0
    match = re.fullmatch(r"Heading (\d)", style_name)
    return int(match.group(1)) if match else None


def load_docx(path: Path, doc_id: str, budget: Budget) -> Iterator[Document]:
    """A Word document: paragraphs and tables in order, a section at each Title or Heading n paragraph."""
    from docx import Document as open_docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    blocks, stack = Blocks(budget), []
    with reading("DOCX", PackageNotFoundError):
        word = open_docx(str(path))
        title = word.core_properties.title or ""
        for item in word.iter_inner_content():
            if isinstance(item, Table):
                blocks.add("\n".join(row_lines(_unique_cells(row.cells) for row in item.rows)))
                continue
            text = " ".join(item.text.split())
            level = _heading_level(item.style.name if item.style is not None else "")
            if text and level is not None:
                stack = [(lvl, h) for lvl, h in stack if lvl < level] + [(level, text)]
                blocks.section(heading=[h for _, h in stack])
                title = title or text
            blocks.add(text)
    yield blocks.document(doc_id, path, title, "DOCX")


def load_pptx(path: Path, doc_id: str, budget: Budget) -> Iterator[Document]:
    """A PowerPoint deck: each slide a section with its number as page and its title as heading; the title,
    the other text boxes and tables in order, then the speaker notes."""
    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    blocks = Blocks(budget)
    with reading("PPTX", PackageNotFoundError):
        deck = Presentation(str(path))
        title = deck.core_properties.title or ""
        for number, slide in enumerate(deck.slides, start=1):
            heading = slide.shapes.title.text_frame.text.strip() if slide.shapes.title is not None else ""
            blocks.section(heading=[heading] if heading else [], page=number)
            title = title or heading
            for shape in slide.shapes:
                if shape.has_text_frame:
                    blocks.add(shape.text_frame.text)
                elif shape.has_table:
                    blocks.add("\n".join(row_lines(_unique_cells(row.cells) for row in shape.table.rows)))
            if slide.has_notes_slide:
                blocks.add(slide.notes_slide.notes_text_frame.text)
    yield blocks.document(doc_id, path, title, "PPTX")


def load_xlsx(path: Path, doc_id: str, budget: Budget) -> Iterator[Document]:
    """An Excel workbook: each sheet a section headed by its name (the name also opens its text), each row a
    line; cached formula values are read, never the formulas."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    blocks = Blocks(budget)
    with reading("XLSX", InvalidFileException):
        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            title = workbook.properties.title or ""
            for sheet in workbook.worksheets:
                lines = row_lines(sheet.iter_rows(values_only=True))
                if lines:
                    blocks.section(heading=[sheet.title])
                    blocks.add(sheet.title)
                    blocks.add("\n".join(lines))
        finally:
            workbook.close()
    yield blocks.document(doc_id, path, title, "XLSX")


def load_csv(path: Path, doc_id: str, budget: Budget) -> Iterator[Document]:
    """A CSV file (delimiter sniffed: comma, semicolon, tab or bar), one line per row under its header."""
    text = read_text(path, budget)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:BINARY_SNIFF_BYTES], delimiters=CSV_DELIMITERS)
    except csv.Error:
        dialect = csv.excel
    with reading("CSV", csv.Error):
        lines = row_lines(csv.reader(io.StringIO(text), dialect))
    blocks = Blocks(budget)
    blocks.add("\n".join(lines))
    yield blocks.document(doc_id, path, "", "CSV")
