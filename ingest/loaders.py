"""Loaders: one function per file type (named by suffix in rag.registry), each turning a file into Documents
with page and heading sections: headings of Markdown, HTML and Word documents, PDF pages, PowerPoint slide
numbers (as pages, with the slide title as heading) and spreadsheet sheet names (as headings). Table rows of
Word documents, spreadsheets and CSV files become one line each, "header: value; header: value.", so a row
reads as a sentence that can be retrieved, cited and checked.

Unknown types, empty, binary, oversized or corrupt files raise SkipFile with a reason the ingest report
shows; nothing here ever aborts a whole run.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from rag import registry
from rag.errors import RagError
from rag.records import Document, Section

log = logging.getLogger(__name__)

Loader = Callable[[Path, str], Iterator[Document]]

BINARY_SNIFF_BYTES = 8192
MARKDOWN_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
HTML_DROPPED = "script, style, noscript, nav, header, footer, aside, form, iframe, svg, template, button"
HTML_BLOCKS = "h1, h2, h3, h4, h5, h6, p, li, pre, blockquote, td, th, dt, dd, figcaption, caption"


class SkipFile(RagError):
    """A file (or record) that cannot be ingested, with the reason."""


def suffix_of(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def supported_suffixes() -> list[str]:
    return registry.names("loader")


def load(path: Path, doc_id: str) -> Iterator[Document]:
    """Documents from one file, its loader chosen by suffix from rag.registry; SkipFile for anything unloadable."""
    suffix = suffix_of(path)
    if suffix not in supported_suffixes():
        raise SkipFile(f"unsupported file type .{suffix or '(none)'}")
    if path.stat().st_size == 0:
        raise SkipFile("empty file")
    loader: Loader = registry.resolve("loader", suffix)
    return loader(path, doc_id)


def decode(data: bytes, path: Path) -> str:
    """Bytes to text: UTF-8 when valid, else the detected charset, else UTF-8 with replacement (logged)."""
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise SkipFile("binary content")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None:
        log.warning("%s is not UTF-8; decoded as %s", path, best.encoding)
        return str(best)
    log.warning("%s: undetectable encoding; undecodable bytes replaced", path)
    return data.decode("utf-8", errors="replace")


def read_text(path: Path) -> str:
    text = decode(path.read_bytes(), path)
    if not text.strip():
        raise SkipFile("no text content")
    return text


def title_from_path(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip().capitalize()


def build_document(doc_id: str, path: Path, text: str, title: str, sections: list[Section]) -> Document:
    return Document(doc_id=doc_id, text=text, title=title, source=str(path), sections=tuple(sections))


def load_txt(path: Path, doc_id: str) -> Iterator[Document]:
    yield build_document(doc_id, path, read_text(path), title_from_path(path), [])


def markdown_sections(text: str) -> list[Section]:
    """A section at each markdown heading, carrying the path of enclosing headings."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    for match in MARKDOWN_HEADING.finditer(text):
        level, heading = len(match.group(1)), match.group(2).strip()
        stack = [(lvl, h) for lvl, h in stack if lvl < level] + [(level, heading)]
        sections.append(Section(start=match.start(), heading=tuple(h for _, h in stack)))
    return sections


def load_markdown(path: Path, doc_id: str) -> Iterator[Document]:
    text = read_text(path)
    sections = markdown_sections(text)
    title = sections[0].heading[0] if sections else title_from_path(path)
    yield build_document(doc_id, path, text, title, sections)


def load_html(path: Path, doc_id: str) -> Iterator[Document]:
    """Visible text of the page's main content, one block per paragraph, headings kept as sections."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(read_text(path))
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


def load_pdf(path: Path, doc_id: str) -> Iterator[Document]:
    """Text of every page, pages separated by blank lines, each page a section with its number."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise SkipFile("encrypted PDF")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        metadata_title = (reader.metadata.title if reader.metadata else None) or ""
    except SkipFile:
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


def load_jsonl(path: Path, doc_id: str) -> Iterator[Document]:
    """A corpus file, one document a line: {id or pid, title?, text, ...}; other fields become metadata.

    Streamed line by line; a bad line is logged and skipped without stopping the file.
    """
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(decode(raw, path))
                record_id = str(record.get("id", record.get("pid", "")))
                text = record["text"]
                if not record_id or not isinstance(text, str) or not text.strip():
                    raise ValueError("needs a non-empty id/pid and text")
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
    page (slide) begins; character offsets are those of the joined text."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.sections: list[Section] = []
        self.offset = 0

    def section(self, heading: Sequence[str] = (), page: int | None = None) -> None:
        self.sections.append(Section(start=self.offset, page=page, heading=tuple(heading)))

    def add(self, text: str) -> None:
        text = text.strip()
        if text:
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


def load_docx(path: Path, doc_id: str) -> Iterator[Document]:
    """A Word document: paragraphs and tables in order, a section at each Title or Heading n paragraph."""
    from docx import Document as open_docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    blocks, stack = Blocks(), []
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


def load_pptx(path: Path, doc_id: str) -> Iterator[Document]:
    """A PowerPoint deck: each slide a section with its number as page and its title as heading; the title,
    the other text boxes and tables in order, then the speaker notes."""
    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    blocks = Blocks()
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


def load_xlsx(path: Path, doc_id: str) -> Iterator[Document]:
    """An Excel workbook: each sheet a section headed by its name (the name also opens its text), each row a
    line; cached formula values are read, never the formulas."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    blocks = Blocks()
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


def load_csv(path: Path, doc_id: str) -> Iterator[Document]:
    """A CSV file (delimiter sniffed: comma, semicolon, tab or bar), one line per row under its header."""
    text = read_text(path)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:BINARY_SNIFF_BYTES], delimiters=CSV_DELIMITERS)
    except csv.Error:
        dialect = csv.excel
    with reading("CSV", csv.Error):
        lines = row_lines(csv.reader(io.StringIO(text), dialect))
    blocks = Blocks()
    blocks.add("\n".join(lines))
    yield blocks.document(doc_id, path, "", "CSV")
