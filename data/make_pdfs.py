"""Build the PDF documents of the sample corpus.

The text of every PDF lives in this script, so the PDFs can be rebuilt
exactly at any time:

    .venv/bin/python data/make_pdfs.py

Each entry in DOCUMENTS describes one PDF. Its "pages" list holds one list of
blocks per page; a page break is inserted between pages, and the script checks
that each document comes out with exactly that many pages. A block is a
(kind, text) pair where kind is "title", "h1", "h2", "p" or "table" (for a
table, text is a list of rows).

All text is original, written for this project (see data/README.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

# Make the output byte-for-byte reproducible (no timestamps or random IDs).
rl_config.invariant = 1

CORPUS = Path(__file__).resolve().parent / "corpus"

DOCUMENTS = [
    {
        "path": "reports/annual-report-2023.pdf",
        "title": "Harbor Valley Railway Trust: Annual Report 2023",
        "footer": "Harbor Valley Railway Trust - Annual Report and Accounts 2023",
        "pages": [
            [
                ("title", "Harbor Valley Railway Trust"),
                ("h1", "Annual Report and Accounts for the year ended 31 December 2023"),
                ("h2", "Chair's Statement"),
                (
                    "p",
                    "I am pleased to present the annual report of the Harbor Valley "
                    "Railway Trust for 2023, a year in which the railway carried more "
                    "passengers than at any time since it reopened to Ashcombe.",
                ),
                (
                    "p",
                    "The railway recorded 71,400 passenger journeys in 2023, compared "
                    "with 64,900 in 2022. Much of the increase came during the Red "
                    "timetable period in August, when several trains ran full and "
                    "standing room only was available on the last train from Ashcombe.",
                ),
                (
                    "p",
                    "Our four operational steam locomotives performed well throughout "
                    "the season. No. 4 Castellan remains out of service awaiting her "
                    "new boiler, and I am grateful to the Merrow County Heritage Fund, "
                    "whose grant has put that project on a secure footing.",
                ),
                (
                    "p",
                    "In September we welcomed 6,120 visitors to the Steam Gala, our "
                    "second best gala attendance ever. The Santa Specials in December "
                    "sold out for the ninth year in succession.",
                ),
                (
                    "p",
                    "The Penhallow Cup for 2023, presented at the annual dinner in "
                    "January 2024, was awarded to Marjorie Fenwick, who has looked "
                    "after the station garden at Fennick Bridge for twenty-two years. "
                    "Her garden won the regional Best Kept Station award in the summer.",
                ),
                (
                    "p",
                    "Finally, I thank our 14 paid staff and, above all, our volunteers. "
                    "The railway would not run for a single day without them.",
                ),
                ("p", "Helen Ostrowska, Chair of Trustees, March 2024"),
            ],
            [
                ("h2", "Financial Review"),
                (
                    "p",
                    "Total income for the year ended 31 December 2023 was £1,842,000. "
                    "Fare income remained by far the largest source of income, "
                    "followed by catering and the shops.",
                ),
                (
                    "table",
                    [
                        ["Income", "2023"],
                        ["Fares", "£968,000"],
                        ["Catering and shops", "£371,000"],
                        ["Donations and legacies", "£214,000"],
                        ["Grants", "£189,000"],
                        ["Other income", "£100,000"],
                        ["Total income", "£1,842,000"],
                    ],
                ),
                (
                    "p",
                    "Total expenditure for the year was £1,776,000, leaving a surplus "
                    "of £66,000, which has been added to the restricted fund for the "
                    "Castellan boiler.",
                ),
                (
                    "p",
                    "Staff costs of £702,000 were the largest single item of "
                    "expenditure. The cost of locomotive coal rose to £148,000, an "
                    "increase of almost a third on the previous year, and insurance "
                    "premiums also rose sharply.",
                ),
                (
                    "p",
                    "Donations and legacies included a legacy of £120,000 from the "
                    "late Arthur Penrose, a member of the Preservation Society since "
                    "1971. In accordance with his wishes, the legacy is being used to "
                    "convert the former slate dressing shed at Ashcombe into the "
                    "Slate Loft cafe.",
                ),
                (
                    "p",
                    "Unrestricted reserves at 31 December 2023 stood at £415,000, "
                    "equivalent to about eleven weeks of normal running costs. The "
                    "trustees aim to increase this to six months over the next five "
                    "years.",
                ),
            ],
            [
                ("h2", "Operations and Volunteers"),
                (
                    "p",
                    "Trains on the railway ran a total of 21,850 train miles in 2023. "
                    "The locomotive mileage was shared as follows.",
                ),
                (
                    "table",
                    [
                        ["Locomotive", "Miles run in 2023"],
                        ["No. 6 Kestrel", "6,940"],
                        ["No. 3 Countess of Fennick", "6,210"],
                        ["No. 5 Lady Elspeth", "4,880"],
                        ["No. 2 Ashcombe", "3,450"],
                        ["No. 8 Bramble", "370"],
                        ["Total", "21,850"],
                    ],
                ),
                (
                    "p",
                    "No. 6 Kestrel ran 6,940 miles, more than any other locomotive, "
                    "and was the only engine not to miss a booked turn through "
                    "mechanical failure.",
                ),
                (
                    "p",
                    "The locomotives burned 427 tonnes of coal during the year. "
                    "No. 8 Bramble was used on passenger trains on seven days in July "
                    "and August when the fire risk was very high.",
                ),
                (
                    "p",
                    "Of 1,974 timetabled passenger trains, 1,946 departed within five "
                    "minutes of time, a punctuality figure of 98.6 per cent. No "
                    "reportable accidents occurred during the year.",
                ),
                (
                    "p",
                    "Volunteers gave a total of 58,300 hours of work to the railway in "
                    "2023, the highest figure ever recorded. The largest share, about "
                    "a quarter of all hours, was given by the permanent way gang.",
                ),
            ],
        ],
    },
    {
        "path": "reports/track-survey-2022.pdf",
        "title": "Permanent Way Condition Survey 2022",
        "footer": "HVLR Permanent Way Condition Survey 2022",
        "pages": [
            [
                ("title", "Harbor Valley Light Railway"),
                ("h1", "Permanent Way Condition Survey 2022"),
                ("p", "Prepared by Alun Brask, Permanent Way Engineer, November 2022."),
                ("h2", "1. Scope of the survey"),
                (
                    "p",
                    "The survey covered the whole running line from Port Merrow Quay to "
                    "Ashcombe, a distance of 11.4 miles, together with the passing "
                    "loops at Lowmoor and Bellhaven. Sidings inside Bellhaven Works "
                    "were excluded.",
                ),
                (
                    "p",
                    "The line was walked on foot in both directions between 3 October "
                    "and 28 October 2022 by a team of four, who recorded the condition "
                    "of every sleeper, rail joint and drain.",
                ),
                ("h2", "2. Description of the track"),
                (
                    "p",
                    "Most of the line is laid with flat-bottom rail weighing 35 lb per "
                    "yard. The exception is the climb between Bellhaven and Coldridge "
                    "Summit, which was relaid with heavier 45 lb per yard rail in 1996 "
                    "before the line was reopened to the summit.",
                ),
                (
                    "p",
                    "The running line contains approximately 23,400 sleepers. Most are "
                    "of creosoted hardwood, but since 2010 all replacement sleepers "
                    "have been made of recycled plastic, and about 3,100 of these are "
                    "now in the track.",
                ),
                ("h2", "3. Summary of condition"),
                (
                    "p",
                    "Overall the track is in fair condition and safe for the present "
                    "line speed of 15 mph. Of the seven sections between stations, "
                    "three were rated good, three fair and one poor. The section rated "
                    "poor is the one between Tarrant's Crossing and Bellhaven.",
                ),
            ],
            [
                ("h2", "4. Detailed findings"),
                (
                    "p",
                    "A total of 1,140 sleepers were found to need replacement within "
                    "the next five years. Of these, 386 lie between Tarrant's Crossing "
                    "and Bellhaven, where poor drainage has caused the timber to rot "
                    "from below.",
                ),
                (
                    "p",
                    "The embankment at Saltings Halt is in good condition, but the "
                    "culvert that carries the tidal creek beneath it is partly blocked "
                    "with silt and must be cleared every spring.",
                ),
                (
                    "p",
                    "On Coldridge Viaduct, where the stonework was fully restored in "
                    "2021, the track is sound and the new waterproof membrane beneath "
                    "the track bed is keeping the arches dry.",
                ),
                ("h2", "5. Recommendations"),
                (
                    "p",
                    "The first priority is to relay 600 metres of track on the curve "
                    "east of Tarrant's Crossing, replacing rails, sleepers and ballast, "
                    "during the winter of 2023 to 2024.",
                ),
                (
                    "p",
                    "The survey recommends a permanent way budget of £410,000 over the "
                    "five years from 2023 to 2027, covering sleeper renewal, drainage "
                    "and ballast, but excluding the viaduct.",
                ),
                (
                    "p",
                    "All drains between Lowmoor and Bellhaven should be rodded before "
                    "each winter, and the lineside vegetation on the Coldridge climb "
                    "should be cut back every autumn to reduce the fire risk.",
                ),
                ("p", "The next full survey is due in 2027."),
            ],
        ],
    },
]


def build_styles():
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("DocTitle", parent=base["Title"], fontSize=20, spaceAfter=4 * mm),
        "h1": ParagraphStyle("H1", parent=base["Heading1"], fontSize=15, spaceAfter=4 * mm),
        "h2": ParagraphStyle("H2", parent=base["Heading2"], fontSize=13, spaceBefore=3 * mm, spaceAfter=2 * mm),
        "p": ParagraphStyle("Body", parent=base["BodyText"], fontSize=10.5, leading=14, spaceAfter=3 * mm),
    }


def make_table(rows):
    table = Table(rows, colWidths=[90 * mm, 40 * mm], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("FONTSIZE", (0, 0), (-1, -1), 10),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def build(doc_spec, styles):
    out = CORPUS / doc_spec["path"]
    out.parent.mkdir(parents=True, exist_ok=True)
    n_pages = len(doc_spec["pages"])

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(20 * mm, 12 * mm, doc_spec["footer"])
        canvas.drawRightString(A4[0] - 20 * mm, 12 * mm, f"Page {doc.page} of {n_pages}")
        canvas.restoreState()

    story = []
    for i, page in enumerate(doc_spec["pages"]):
        if i:
            story.append(PageBreak())
        for kind, content in page:
            if kind == "table":
                story.append(make_table(content))
                story.append(Spacer(1, 4 * mm))
            else:
                story.append(Paragraph(content, styles[kind]))

    doc = SimpleDocTemplate(
        str(out),
        pagesize=A4,
        title=doc_spec["title"],
        author="Harbor Valley Railway Trust (fictional sample corpus)",
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=20 * mm,
        bottomMargin=22 * mm,
        invariant=1,
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    if doc.page != n_pages:
        sys.exit(f"{out}: expected {n_pages} pages, got {doc.page}")
    return out


def main():
    styles = build_styles()
    for spec in DOCUMENTS:
        path = build(spec, styles)
        print(f"wrote {path.relative_to(CORPUS.parent.parent)} ({len(spec['pages'])} pages)")


if __name__ == "__main__":
    main()
