"""Judged labels: matching them to a run's sentences and answers by item and text hash, the four figures that the
verifier does not decide, what is exported for judging, and the scorers' passed counts on judged sentences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.datasets import read_jsonl
from eval.generated_support import JudgedSentence, as_generated, best_scores, judged_sentences, passed_counts
from eval.judged import LABELS, Labels, generated_scores, main, tally, text_hash, threshold_table, to_judge
from rag.config import Settings
from rag.fakes import OverlapScorer
from rag.verify.scoring import load_scorers

PASSAGES = [{"text": "The line opened in 1894."}, {"text": "Cats sleep all day."}]


def record(
    item: str, answerable: bool, shown: list[str] | None, raw: list[str], generated: bool = True
) -> dict[str, object]:
    """An items.jsonl record as the eval runner writes it (shown None: the answer abstained; raw []: the generator
    abstained; generated False: an extractive answer, which no generator wrote)."""
    answer = {
        "abstained": shown is None,
        "answer": " ".join(f"{s} [1]" for s in shown or []) or "The corpus does not say.",
        "sentences": [{"text": s} for s in shown or []],
        "passages": PASSAGES,
        "timings": {"retrieve": 0.1, "generate": 1.0} if generated else {"retrieve": 0.1, "select": 0.1},
    }
    return {
        "id": item,
        "question": f"question {item}",
        "answers": ["1894"] if answerable else [],
        "answerable": answerable,
        "retrieved": [*PASSAGES, {"text": "It had ten stations."}],  # the generator read only the first two
        "answer": answer,
        "raw": {"text": " ".join(raw), "abstained": not raw, "sentences": [{"text": s} for s in raw]},
    }


RECORDS = [
    record("q1", True, ["The line opened in 1894."], ["The line opened in 1894.", "It had ten stations."]),
    record("q2", True, ["The line opened in 1902."], ["The line opened in 1902."]),
    record("q3", False, ["Cats sleep all day."], ["Cats sleep all day."]),
    record("q4", False, None, ["Dogs bark."]),
    record("q5", True, None, []),
]
LABELS_GIVEN = Labels(
    sentences={
        ("q1", text_hash("The line opened in 1894.")): True,
        ("q1", text_hash("It had ten stations.")): False,
        ("q2", text_hash("The line opened in 1902.")): False,
        ("q3", text_hash("Cats sleep all day.")): True,
    },
    answers={
        ("q1", text_hash("The line opened in 1894. [1]")): "correct",
        ("q2", text_hash("The line opened in 1902. [1]")): "wrong",
        ("q1", text_hash("The line opened in 1894. It had ten stations.")): "partial",
    },
)


def test_the_four_figures_from_labels() -> None:
    figures = tally(RECORDS, LABELS_GIVEN).figures()
    assert figures["shown_supported"] == round(2 / 3, 4)  # q1 yes, q2 no, q3 yes
    assert figures["raw_supported"] == round(2 / 4, 4)  # q4's "Dogs bark." is not judged
    assert figures["wrong_shown"] == round(2 / 5, 4)  # q2 wrong, q3 answered an unanswerable question
    assert figures["answerable_correct"] == round(1 / 3, 4)  # q1 of q1, q2, q5 (q5 abstained)
    assert figures["unanswerable_refused"] == 0.5  # q4 of q3, q4
    assert figures["counts"]["raw_unjudged"] == 1


def test_the_raw_generators_figures_beside_them() -> None:
    figures = tally(RECORDS, LABELS_GIVEN).figures()
    assert figures["counts"]["raw_unjudged_answers"] == 1  # q2's raw answer
    assert figures["raw_wrong_shown"] == round(2 / 4, 4)  # q3 and q4 answered unanswerable questions
    assert figures["raw_answerable_correct"] == 0.0  # q1 partial; q5 abstained
    assert figures["raw_unanswerable_refused"] == 0.0


def test_an_extractive_answer_has_no_raw_figures() -> None:
    extractive = [record("q1", True, ["The line opened in 1894."], [], generated=False)]
    figures = tally(extractive, LABELS_GIVEN).figures()
    assert figures["answerable_correct"] == 1.0 and figures["counts"]["generated_items"] == 0
    assert figures["raw_answerable_correct"] is None and figures["raw_supported"] is None
    assert [t["kind"] for t in to_judge(extractive, Labels())] == ["sentence", "answer"]


def test_unjudged_answers_are_left_out_and_exported() -> None:
    partly = Labels(sentences=LABELS_GIVEN.sentences, answers={})
    counts = tally(RECORDS, partly)
    assert counts.unjudged_answers == 2 and counts.figures()["answerable_correct"] == 0.0
    todo = to_judge(RECORDS, partly)
    kinds = [(t["item"], t["kind"], t["text"]) for t in todo]
    assert kinds == [
        ("q1", "answer", "The line opened in 1894. [1]"),
        ("q1", "answer", "The line opened in 1894. It had ten stations."),
        ("q2", "answer", "The line opened in 1902. [1]"),
        ("q2", "answer", "The line opened in 1902."),
        ("q4", "sentence", "Dogs bark."),
    ]
    assert todo[0]["passages"] == [p["text"] for p in PASSAGES] and todo[0]["gold"] == ["1894"]


def test_scorer_counts_on_judged_raw_sentences() -> None:
    sentences = judged_sentences(RECORDS, LABELS_GIVEN)
    assert [(s.text, s.supported) for s in sentences] == [
        ("The line opened in 1894.", True),
        ("It had ten stations.", False),
        ("The line opened in 1902.", False),
        ("Cats sleep all day.", True),
    ]
    scores = best_scores(sentences, OverlapScorer(threshold=1.0))
    assert scores == [1.0, 0.0, 0.8, 1.0]  # against the passages read, as judged: not the third retrieved one
    counts = passed_counts(sentences, scores, threshold=0.9)
    assert counts["passed"] == 2 and counts["passed_unsupported"] == 0 and counts["precision"] == 1.0
    assert passed_counts([JudgedSentence("x", ("x",), True)], [0.5], threshold=2.0)["precision"] is None


def test_a_threshold_sweep_counts_as_the_pipeline_would_at_each_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    sentences = [
        *judged_sentences(RECORDS, LABELS_GIVEN),
        JudgedSentence("The line opened to traffic in 1894.", ("The line opened in 1894.",), True),
        JudgedSentence("Cats sleep.", ("Cats sleep all day, said the vet on Tuesday.",), False),
    ]
    (trained,) = load_scorers(["trained"])
    default = Settings().generated_support_threshold  # the sweep includes the default threshold
    assert default is not None and 0.5 < default < 0.9
    swept = as_generated("trained", trained, sentences, sweep=[0.5, 0.9])
    assert [row["scorer"] for row in swept][::2] == ["trained at 0.50", f"trained at {default:.2f}", "trained at 0.90"]
    assert swept[1]["scorer"] == "trained at 0.50 + heuristic"
    for threshold, rows in zip((0.5, default, 0.9), (swept[0:2], swept[2:4], swept[4:6]), strict=True):
        monkeypatch.setenv("RAG_GENERATED_SUPPORT_THRESHOLD", str(threshold))
        assert as_generated("trained", trained, sentences) == rows
    assert swept[0]["passed"] > swept[4]["passed"]  # the sweep does change the decisions


def test_committed_labels_are_well_formed() -> None:
    sentences = list(read_jsonl(LABELS / "sentences.jsonl"))
    assert len({(r["item"], r["sha"]) for r in sentences}) == len(sentences) >= 130
    assert all(len(r["sha"]) == 12 and isinstance(r["supported"], bool) and r["judge"] for r in sentences)


def test_command_reports_and_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    assert main(["--run", str(run), "--labels", str(tmp_path / "none"), "--export", str(tmp_path / "todo.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "| run |  | supported sentences |" in out and "| raw generator |" in out
    assert len((tmp_path / "todo.jsonl").read_text().splitlines()) == 9  # 5 distinct sentences, 2 shown, 2 raw
    assert main(["--run", str(tmp_path / "missing")]) == 2


def test_thresholds_decide_the_judged_generated_sentences_shown_or_withheld() -> None:
    def sentence(text: str, support: float, status: str) -> dict[str, object]:
        return {"text": text, "support": support, "status": status}

    answer = {
        "sentences": [sentence("The line opened in 1894.", 0.9, "supported"), sentence("Quoted.", 1.0, "quoted")],
        "removed_sentences": [sentence("It had ten stations.", 0.5, "unsupported"), sentence("Unjudged.", 0.1, "x")],
    }
    scores = generated_scores([{"id": "q1", "answer": answer}], LABELS_GIVEN)
    assert sorted(scores) == [(0.5, False), (0.9, True)]  # the quote and the unjudged sentence are left out
    table = threshold_table(scores, [0.4, 0.7, 0.95])
    assert "| 0.40 | 1 | 1 | 0.50 |" in table
    assert "| 0.70 | 1 | 0 | 1.00 |" in table
    assert "| 0.95 | 0 | 0 | – |" in table
