"""Loaders: each file type gives the right text, sections and titles; bad files give a SkipFile reason."""

from __future__ import annotations

import codecs
import json
import random
from pathlib import Path

import pytest

from ingest.loaders import Budget, SkipFile, load


def only(path: Path, doc_id: str = "doc", budget: Budget | None = None):
    documents = list(load(path, doc_id, budget))
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


# ------------------------------------------------------------------------------------------ decoding

NORWEGIAN = (
    "Jernbanen mellom Bjørnstad og Tromsø åpnet i 1894. Den gikk langs kysten i tolv kilometer, og toget "
    "stoppet på hver stasjon. Dampdriften ble lagt ned i 1962, da linjen ble stengt. Frivillige i foreningen "
    "vedlikeholder nå lokomotivene og kjører tog hver lørdag fra april til oktober. Billetter kan kjøpes om "
    "bord, og første tog går fra Havnestasjonen klokka kvart over ti. Søndag er det stengt."
)


@pytest.mark.parametrize(
    ("bom", "encoding"),
    [
        (b"", "utf-16"),  # Python writes the native byte-order mark
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (b"", "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"),
    ],
)
def test_a_byte_order_mark_names_the_encoding(tmp_path: Path, bom: bytes, encoding: str) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes(bom + NORWEGIAN.encode(encoding))
    assert only(path).text == NORWEGIAN


def test_latin1_keeps_its_letters(tmp_path: Path) -> None:
    """cp1250 decodes the same bytes without error, turning ø into ř; the detector must not pick it."""
    path = tmp_path / "latin1.txt"
    path.write_bytes(NORWEGIAN.encode("latin-1"))
    assert only(path).text == NORWEGIAN


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Příliš žluťoučký kůň úpěl ďábelské ódy, řekl průvodčí.", "cp1250"),
        ("Zażółć gęślą jaźń, powiedział konduktor pociągu.", "iso-8859-2"),
        ("Поезд уходит в полдень с первой платформы.", "cp1251"),
        ("Le café de la gare ouvre à sept heures, même le dimanche.", "cp1252"),
    ],
)
def test_other_single_byte_charsets_are_detected(tmp_path: Path, text: str, encoding: str) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes(text.encode(encoding))
    assert only(path).text == text


def test_bytes_without_a_credible_encoding_are_skipped(tmp_path: Path) -> None:
    """Random bytes with no NUL pass the binary sniff; they are still not text."""
    path = tmp_path / "noise.txt"
    generator = random.Random(0)
    path.write_bytes(bytes(generator.randrange(1, 256) for _ in range(5000)))
    with pytest.raises(SkipFile, match="no credible text encoding"):
        only(path)


# ------------------------------------------------------------------------------------------ budgets


def test_a_document_over_its_character_budget_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "long.md"
    path.write_text("# Long\n\n" + "The line ran along the coast. " * 100)
    with pytest.raises(SkipFile, match="max_document_chars=500"):
        only(path, budget=Budget(max_chars=500))


def test_a_pdf_that_expands_is_stopped_while_it_is_extracted(tmp_path: Path) -> None:
    pytest.importorskip("reportlab")
    from reportlab.pdfgen import canvas

    path = tmp_path / "dense.pdf"
    pdf = canvas.Canvas(str(path))
    for line in range(60):
        pdf.drawString(20, 800 - 12 * line, "The railway carried slate and passengers along the harbour. " * 2)
    pdf.showPage()
    pdf.drawString(72, 720, "A second page nobody needs to read.")
    pdf.save()
    seen: list[int] = []

    class Counting(Budget):
        def charge(self, chars: int) -> None:
            seen.append(chars)
            super().charge(chars)

    with pytest.raises(SkipFile, match="max_document_chars=1000"):
        only(path, budget=Counting(max_chars=1000))
    assert sum(seen[:-1]) <= 1000, "extraction stopped once the budget was spent"


def test_jsonl_records_over_the_budget_are_skipped_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "corpus.jsonl"
    records = [{"id": "short", "text": "Short."}, {"id": "long", "text": "x " * 1000}, {"id": "next", "text": "Ok."}]
    path.write_text("\n".join(json.dumps(r) for r in records))
    documents = list(load(path, "ignored", Budget(max_chars=100)))
    assert [d.doc_id for d in documents] == ["short", "next"]
    assert "max_document_chars=100" in caplog.text
