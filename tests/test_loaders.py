"""Loaders: each file type gives the right text, sections and titles; bad files give a SkipFile reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.loaders import SkipFile, load


def only(path: Path, doc_id: str = "doc"):
    documents = list(load(path, doc_id))
    assert len(documents) == 1
    return documents[0]


def test_txt_keeps_text_and_titles_from_file_name(tmp_path: Path) -> None:
    path = tmp_path / "steam_gala-2024.txt"
    path.write_text("Line one.\n\nLine two.")
    document = only(path, "steam_gala-2024.txt")
    assert document.text == "Line one.\n\nLine two."
    assert document.title == "Steam gala 2024"
    assert document.doc_id == "steam_gala-2024.txt"


def test_markdown_heading_paths(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("# Top\n\nintro\n\n## Child\n\nbody\n\n### Grandchild\n\ndeep\n\n## Second\n\nlast")
    document = only(path)
    assert document.title == "Top"
    assert document.section_at(document.text.index("deep")).heading == ("Top", "Child", "Grandchild")
    assert document.section_at(document.text.index("last")).heading == ("Top", "Second")
    assert document.section_at(document.text.index("intro")).heading == ("Top",)


def test_html_drops_scripts_styles_navigation(corpus: Path) -> None:
    document = only(corpus / "sub" / "gamma.html")
    assert "four locomotives" in document.text
    for noise in ("var x", "color:red", "Home | About", "Copyright"):
        assert noise not in document.text
    assert document.title == "Gamma depot"
    assert document.section_at(document.text.index("Twelve")).heading == ("Gamma depot", "Staff")


def test_pdf_pages_are_sections(tmp_path: Path) -> None:
    pytest.importorskip("reportlab")
    from reportlab.pdfgen import canvas

    path = tmp_path / "two.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.drawString(72, 720, "First page says the fare is 4 pounds.")
    pdf.showPage()
    pdf.drawString(72, 720, "Second page says trains run hourly.")
    pdf.save()
    document = only(path)
    assert document.section_at(document.text.index("fare")).page == 1
    assert document.section_at(document.text.index("hourly")).page == 2


def test_corrupt_pdf_is_skipped_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage garbage")
    with pytest.raises(SkipFile, match="PDF"):
        only(path)


def test_jsonl_records_become_documents_with_metadata(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [
        {"pid": "p1", "title": "One", "text": "First text.", "lang": "en"},
        "not json",
        {"id": "p2", "text": "Second text."},
        {"id": "p3", "text": ""},
    ]
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines))
    documents = list(load(path, "ignored"))
    assert [d.doc_id for d in documents] == ["p1", "p2"]
    assert documents[0].title == "One"
    assert documents[0].metadata == {"lang": "en"}


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"   \n\t ", "no text"),
        ("binary.txt", b"\x00\x01\x02\x03binary", "binary"),
        ("image.png", b"\x89PNG\r\n", "unsupported file type"),
    ],
)
def test_bad_files_are_skipped_with_reason(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SkipFile, match=reason):
        only(path)


def test_non_utf8_text_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("Le café de la gare ouvre à sept heures, même le dimanche.".encode("cp1252"))
    assert "café" in only(path).text
