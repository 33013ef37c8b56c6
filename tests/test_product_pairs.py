"""eval.product_pairs: labelled generator sentences become one pair per passage read, matched by text hashes."""

from __future__ import annotations

import json
from pathlib import Path

from eval.judged import text_hash
from eval.product_pairs import product_pairs, split_of

PASSAGES = [
    "The branch line opened to public traffic on 9 July 1903.",
    "The station clock was made in Leeds.",
    "The museum keeps the line's first timetable.",
]


def write_run(folder: Path, sentences: list[str]) -> Path:
    record = {
        "id": "item-1",
        "error": None,
        "answer": {"passages": [{"text": p} for p in PASSAGES]},
        "raw": {"sentences": [{"text": s} for s in sentences]},
    }
    folder.mkdir()
    (folder / "items.jsonl").write_text(json.dumps(record) + "\n")
    return folder


def label(sentence: str, supported_by: list[int], supported: bool) -> dict:
    return {
        "item": "item-1",
        "sha": text_hash(sentence),
        "passages": [text_hash(p) for p in PASSAGES],
        "supported_by": supported_by,
        "supported": supported,
        "judge": "hand",
    }


def test_pairs_per_passage_skip_trivial_negatives_and_unmatched_texts(tmp_path: Path) -> None:
    supported = "The branch line opened on 9 July 1903."
    invented = "The line's first timetable was printed in Leeds."
    combined = "The line opened in 1903 and its clock came from Leeds."
    run = write_run(tmp_path / "run", [supported, invented, combined])
    labels = tmp_path / "labels.jsonl"
    rows = [label(supported, [1], True), label(invented, [], False), label(combined, [], True)]
    rows.append(label("A sentence this run never wrote.", [], False))
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))

    pairs, unmatched = product_pairs(run, "all", labels)

    assert unmatched == 1
    got = {(p.claim, p.premise): p.label for p in pairs}
    assert got[(supported, PASSAGES[0])] == 1
    assert (supported, PASSAGES[1]) not in got  # shares no content word: a trivial negative
    assert got[(invented, PASSAGES[1])] == 0 and got[(invented, PASSAGES[2])] == 0
    assert not any(claim == combined for claim, _ in got)  # needs two passages together: left out


def test_a_changed_passage_does_not_match(tmp_path: Path) -> None:
    sentence = "The branch line opened on 9 July 1903."
    run = write_run(tmp_path / "run", [sentence])
    row = label(sentence, [1], True)
    row["passages"][2] = text_hash("another passage")
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps(row) + "\n")
    assert product_pairs(run, "all", labels) == ([], 1)


def test_the_split_is_stable_and_holds_out_about_a_fifth() -> None:
    splits = [split_of(f"halueval-{n}") for n in range(1000)]
    assert splits == [split_of(f"halueval-{n}") for n in range(1000)]
    assert 150 < splits.count("heldout") < 250
