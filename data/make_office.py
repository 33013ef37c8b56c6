"""Build the Word, PowerPoint, Excel and CSV documents of the sample corpus.

The text of every file lives in this script, so the files can be rebuilt exactly at any time:

    .venv/bin/python data/make_office.py

The output is reproducible byte for byte: document properties carry a fixed date and every zip entry a fixed
timestamp. The script needs python-docx, python-pptx and openpyxl (the `office` extra). All text is original,
written for this project (see data/README.md).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
FIXED = datetime(2024, 11, 1, 12, 0, 0)
ZIP_TIME = (2024, 11, 1, 12, 0, 0)
# openpyxl stamps the time of saving into docProps/core.xml whatever the workbook says
MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
AUTHOR = "Harbor Valley Railway Trust (fictional sample corpus)"

WINTER_WORKS = [
    ("Title", "Winter Works Programme 2024-25"),
    (
        "Normal",
        "This plan sets out the engineering work that the Harbor Valley Railway Trust will carry out while the "
        "line is closed to passengers over the winter of 2024-25.",
    ),
    ("Heading 1", "Closure period"),
    (
        "Normal",
        "The line is closed to passenger trains from 6 January to 14 March 2025 for the winter works. The Santa "
        "Specials in December run as usual, and the first trains of the 2025 season run on 15 March 2025.",
    ),
    ("Heading 1", "Projects"),
    ("Heading 2", "Fennick Bridge platform"),
    (
        "Normal",
        "The platform at Fennick Bridge will be extended by 18 metres, so that a six-coach train can stop clear "
        "of the level crossing. The extension is built of reclaimed slate blocks from the Ashcombe quarry tips.",
    ),
    ("Heading 2", "Sleeper renewal"),
    (
        "Normal",
        "A total of 420 worn sleepers between Lowmoor and Tarrant's Crossing will be replaced with recycled "
        "plastic sleepers, the first stage of the renewals recommended by the 2022 track survey.",
    ),
    ("Heading 2", "Bellhaven running shed roof"),
    (
        "Normal",
        "The roof of the running shed at Bellhaven will be re-clad in profiled steel sheet with clear roof lights "
        "along the ridge. The old asbestos cement sheets will be removed by a licensed contractor before work "
        "begins.",
    ),
    ("Heading 1", "Budget"),
    (
        "table",
        [
            ["Project", "Budget"],
            ["Fennick Bridge platform", "£38,000"],
            ["Sleeper renewal", "£54,500"],
            ["Bellhaven shed roof", "£21,000"],
            ["Total", "£113,500"],
        ],
    ),
    ("Heading 1", "Working parties"),
    (
        "Normal",
        "During the closure, volunteer working parties meet at Bellhaven Works at 08:30 every Wednesday and "
        "Sunday. The winter works are managed by Nerys Trelawney, the Trust's permanent way supervisor.",
    ),
]

OPEN_DAY = [
    (
        "Volunteer Open Day 2025",
        ["Saturday 12 April 2025, Bellhaven Works, from 10:00 to 16:00."],
        "Entry to the open day is free, and no booking is needed.",
    ),
    (
        "Try a role",
        [
            "Taster sessions run every hour in the booking office, the signal box, the carriage works and the "
            "station gardens.",
            "Visitors aged 16 and over can ride on the footplate of No. 2 Ashcombe between Bellhaven and "
            "Coldridge Summit.",
        ],
        "",
    ),
    (
        "Getting there",
        [
            "A free shuttle train leaves Port Merrow Quay at 09:40 and returns from Bellhaven at 16:20.",
            "There is no visitor parking at Bellhaven Works on the day.",
        ],
        "",
    ),
    (
        "Signing up",
        [
            "Application forms can be completed on the day.",
            "New volunteers then join the next induction day at Bellhaven, held on the first Saturday of each month.",
        ],
        "The open day is organised by the Volunteer Coordinator, Gareth Pryce.",
    ),
]

VISITOR_SURVEY = {
    "Summary": [
        ["Item", "Value"],
        ["Survey period", "July and August 2024"],
        ["Where collected", "Ashcombe station"],
        ["Responses", 1286],
        ["Would recommend the railway (%)", 94],
    ],
    "Ratings": [
        ["Aspect", "Good or excellent (%)", "Poor (%)"],
        ["Friendliness of staff and volunteers", 97, 1],
        ["Cleanliness of carriages", 88, 3],
        ["Value for money", 71, 9],
        ["Refreshments on the train", 64, 12],
        ["Signposting at Port Merrow Quay", 58, 15],
    ],
    "How visitors heard": [
        ["Source", "Share of visitors (%)"],
        ["Recommendation from friends or family", 34],
        ["The railway's website", 27],
        ["Tourist information centres", 14],
        ["Social media", 13],
        ["Leaflets and posters", 12],
    ],
}

LONG_SERVICE = [
    ["Volunteer", "Department", "Joined", "Years of service", "Badge"],
    ["Hannah Quilliam", "Booking office", "1984", "40", "Ruby"],
    ["Colin Mabey", "Permanent way", "1989", "35", "Coral"],
    ["Ruth Eldridge", "Catering", "1994", "30", "Pearl"],
    ["Dilys Harker", "Signalling", "1999", "25", "Silver"],
    ["Owen Petherick", "Carriage and wagon", "2014", "10", "Bronze"],
]


def fixed_zip(path: Path) -> None:
    """Rewrite a zip container with the same entries in the same order, each with a fixed timestamp (and the
    fixed date as the document's modification time)."""
    stamp = FIXED.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path) as source:
        entries = [(info, MODIFIED.sub(rb"\g<1>" + stamp + rb"\g<2>", source.read(info))) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, data)


def set_properties(properties: object, title: str) -> None:
    for name, value in (("title", title), ("author", AUTHOR), ("created", FIXED), ("modified", FIXED)):
        setattr(properties, name, value)
    properties.last_modified_by = AUTHOR  # type: ignore[attr-defined]
    properties.revision = 1  # type: ignore[attr-defined]


def make_docx(out: Path) -> None:
    from docx import Document

    document = Document()
    set_properties(document.core_properties, WINTER_WORKS[0][1])
    for style, content in WINTER_WORKS:
        if style == "table":
            table = document.add_table(rows=0, cols=len(content[0]))
            for row in content:
                for cell, text in zip(table.add_row().cells, row, strict=True):
                    cell.text = text
        else:
            document.add_paragraph(content, style=style)
    document.save(str(out))


def make_pptx(out: Path) -> None:
    from pptx import Presentation

    deck = Presentation()
    set_properties(deck.core_properties, OPEN_DAY[0][0])
    for title, lines, notes in OPEN_DAY:
        slide = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
        slide.shapes.title.text = title
        body = slide.placeholders[1].text_frame
        body.text = lines[0]
        for line in lines[1:]:
            body.add_paragraph().text = line
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.save(str(out))


def make_xlsx(out: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    set_properties(workbook.properties, "Visitor Survey 2024")
    workbook.properties.creator = AUTHOR
    for name, rows in VISITOR_SURVEY.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    workbook.save(out)


def make_csv(out: Path) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(LONG_SERVICE)
    out.write_text(buffer.getvalue(), encoding="utf-8")


BUILDERS = {
    "operations/winter-works-2024-25.docx": make_docx,
    "events/volunteer-open-day-2025.pptx": make_pptx,
    "reports/visitor-survey-2024.xlsx": make_xlsx,
    "people/long-service-awards-2024.csv": make_csv,
}


def main() -> None:
    for relative, build in BUILDERS.items():
        out = CORPUS / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        build(out)
        if zipfile.is_zipfile(out):
            fixed_zip(out)
        print(f"wrote {out.relative_to(CORPUS.parent.parent)}")


if __name__ == "__main__":
    main()
