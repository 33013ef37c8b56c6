"""Hand-labelled generated sentences: matching labels to an eval run by text hash, and the passed counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.datasets import read_jsonl
from eval.generated_support import (
    LABELS,
    JudgedSentence,
    best_scores,
    judged_sentences,
    load_labels,
    main,
    passed_counts,
    text_hash,
)
from rag.fakes import OverlapScorer

PASSAGES = [{"text": "The line opened in 1894."}, {"text": "Cats sleep all day."}]
ITEMS = [
    {
        "id": "q1",
        "retrieved": PASSAGES,
        "raw": {"sentences": [{"text": "The line opened in 1894."}, {"text": "The line opened in 1902."}]},
    },
    {"id": "q2", "retrieved": PASSAGES, "raw": {"sentences": [{"text": "Cats sleep all day."}]}},
]


def label(item: str, index: int, text: str, supported: bool) -> dict[str, object]:
    return {"id": item, "index": index, "sha": text_hash(text), "supported": supported}


LABELLED = [
    label("q1", 0, "The line opened in 1894.", True),
    label("q1", 1, "The line opened in 1902.", False),
    label("q2", 0, "Dogs sleep all day.", True),  # written for another run: its text differs
]


def labels_file(tmp_path: Path) -> Path:
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in LABELLED))
    return path


def test_labels_match_sentences_by_id_index_and_text(tmp_path: Path) -> None:
    sentences, unmatched = judged_sentences(ITEMS, load_labels(labels_file(tmp_path)))
    assert [(s.text, s.supported) for s in sentences] == [
        ("The line opened in 1894.", True),
        ("The line opened in 1902.", False),
    ]
    assert unmatched == 1
    assert sentences[0].passages == ("The line opened in 1894.", "Cats sleep all day.")


def test_best_score_is_the_max_over_passages_and_counts_follow_the_threshold() -> None:
    sentences = [
        JudgedSentence("The line opened in 1894.", ("Cats sleep.", "The line opened in 1894."), True),
        JudgedSentence("The line opened in 1902.", ("The line opened in 1894.",), False),
        JudgedSentence("Cats sleep.", ("Cats sleep.",), False),  # a wrong label stays wrong: it is data
        JudgedSentence("It rained.", ("Cats sleep.",), True),
    ]
    scores = best_scores(sentences, OverlapScorer(threshold=1.0))
    assert scores == [1.0, 0.8, 1.0, 0.0]
    counts = passed_counts(sentences, scores, threshold=0.9)
    assert counts["passed"] == 2 and counts["passed_unsupported"] == 1 and counts["passed_supported"] == 1
    assert counts["precision"] == 0.5 and counts["recall"] == 0.5
    assert passed_counts(sentences, scores, threshold=2.0)["precision"] is None


def test_committed_labels_are_well_formed() -> None:
    rows = list(read_jsonl(LABELS))
    assert len({(r["id"], r["index"]) for r in rows}) == len(rows) == 146
    assert all(len(r["sha"]) == 12 and isinstance(r["supported"], bool) for r in rows)
    assert sum(r["supported"] for r in rows) == 10


def test_missing_run_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--run", str(tmp_path / "none")]) == 2
    assert "make eval-clapnq" in capsys.readouterr().err
