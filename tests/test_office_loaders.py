"""Office and data formats, on the sample files data/make_office.py builds: Word headings, PowerPoint slide
numbers, Excel sheet names and CSV rows reach the chunks with their offsets; a damaged file is a logged skip."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import pytest

from ingest.chunking import Chunker
from ingest.loaders import SkipFile, load
from ingest.pipeline import Ingestor
from rag.config import Settings
from rag.index.generations import Index

from .conftest import DATA

DOCX = DATA / "corpus" / "operations" / "winter-works-2024-25.docx"
PPTX = DATA / "corpus" / "events" / "volunteer-open-day-2025.pptx"
XLSX = DATA / "corpus" / "reports" / "visitor-survey-2024.xlsx"
CSV = DATA / "corpus" / "people" / "long-service-awards-2024.csv"


def only(path: Path):
    documents = list(load(path, path.name))
    assert len(documents) == 1
    return documents[0]


def test_docx_keeps_heading_paths_and_table_rows() -> None:
    document = only(DOCX)
    assert document.title == "Winter Works Programme 2024-25"
    at = document.text.index("420 worn sleepers")
    assert document.section_at(at).heading == ("Winter Works Programme 2024-25", "Projects", "Sleeper renewal")
    assert "Project: Total; Budget: £113,500." in document.text
    assert document.section_at(document.text.index("£113,500")).heading[-1] == "Budget"


def test_pptx_slides_are_pages_headed_by_their_titles() -> None:
    document = only(PPTX)
    assert document.title == "Volunteer Open Day 2025"
    section = document.section_at(document.text.index("09:40"))
    assert (section.page, section.heading) == (3, ("Getting there",))
    notes = document.text.index("organised by the Volunteer Coordinator")  # speaker notes are text too
    assert document.section_at(notes).page == 4


def test_xlsx_sheets_are_sections_and_rows_read_as_sentences() -> None:
    document = only(XLSX)
    assert [s.heading for s in document.sections] == [("Summary",), ("Ratings",), ("How visitors heard",)]
    assert "Aspect: Value for money; Good or excellent (%): 71; Poor (%): 9." in document.text
    assert document.section_at(document.text.index("Responses; Value: 1286")).heading == ("Summary",)


def test_csv_rows_under_their_header_and_a_sniffed_delimiter(tmp_path: Path) -> None:
    assert "Volunteer: Hannah Quilliam; Department: Booking office; Joined: 1984;" in only(CSV).text
    semicolons = tmp_path / "fares.csv"
    semicolons.write_text("Ticket;Price\nAdult return;£22.00\nChild return;£11.00\n", encoding="utf-8")
    assert only(semicolons).text == "Ticket: Adult return; Price: £22.00.\nTicket: Child return; Price: £11.00."


def test_chunks_carry_slide_numbers_sheet_names_and_offsets(tokenizer) -> None:
    chunker = Chunker(tokenizer, 48, 8)
    for path in (DOCX, PPTX, XLSX, CSV):
        document = only(path)
        chunks = chunker.chunk(document)
        assert chunks, path
        for chunk in chunks:
            assert document.text[chunk.start : chunk.end] == chunk.text
            section = document.section_at(chunk.start)
            assert (chunk.page, chunk.heading) == (section.page, section.heading)
    assert {c.page for c in chunker.chunk(only(PPTX))} == {1, 2, 3, 4}
    assert {c.heading for c in chunker.chunk(only(XLSX))} >= {("Ratings",), ("How visitors heard",)}


def not_office_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not an office document")


@pytest.mark.parametrize("suffix", ["docx", "pptx", "xlsx"])
@pytest.mark.parametrize("damage", ["garbage", "zip", "truncated"])
def test_damaged_office_files_are_skipped_with_a_reason(tmp_path: Path, suffix: str, damage: str) -> None:
    path = tmp_path / f"broken.{suffix}"
    source = {"docx": DOCX, "pptx": PPTX, "xlsx": XLSX}[suffix].read_bytes()
    if damage == "garbage":
        path.write_bytes(b"this is not a zip file at all" * 10)
    elif damage == "zip":
        not_office_zip(path)
    else:
        path.write_bytes(source[: len(source) // 2])
    with pytest.raises(SkipFile, match=f"unreadable {suffix.upper()}"):
        only(path)


def test_ingest_logs_and_skips_a_damaged_file_and_keeps_the_rest(
    tmp_path: Path, fake_embedder, caplog: pytest.LogCaptureFixture
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for path in (DOCX, PPTX, XLSX, CSV):
        (docs / path.name).write_bytes(path.read_bytes())
    (docs / "broken.docx").write_bytes(DOCX.read_bytes()[:2000])
    index = tmp_path / "index"
    with caplog.at_level(logging.WARNING, logger="ingest.pipeline"):
        report = Ingestor(Settings(index=index), embedder=fake_embedder).run([docs], index)
    assert [(Path(p).name, r.split(":")[0]) for p, r in report.skipped] == [("broken.docx", "unreadable DOCX")]
    assert "broken.docx" in caplog.text
    assert report.added == 4
    store = Index.open(index).store
    pages = store.db.execute("SELECT DISTINCT page FROM chunks WHERE doc_id = ?", (PPTX.name,)).fetchall()
    assert pages and all(page for (page,) in pages)  # the deck's chunks carry their slide numbers
