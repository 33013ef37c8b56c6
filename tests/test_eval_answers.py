"""Scoring another system's answers (`rag eval --answers`): the project's example file (data/external-answers.
jsonl) with values computed by hand under the word-overlap scorer, ragas's EvaluationDataset layout read and
written (round-tripped through ragas's real class), and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eval import external
from eval.external import evaluate_answers, read_answers
from rag import cli
from rag.config import Settings
from rag.errors import InputError
from rag.fakes import OverlapScorer

from .conftest import DATA

ANSWERS = DATA / "external-answers.jsonl"


def value(summary: dict, name: str) -> tuple[float | None, int]:
    return summary[name]["value"], summary[name]["n"]


def test_another_systems_answers_get_the_hallucination_metrics(tmp_path: Path) -> None:
    summary = evaluate_answers(Settings(), ANSWERS, tmp_path, scorer=OverlapScorer(), progress=False)
    # a1: one of two sentences supported, and cited right; a2: no markers, `citations` [1], supported ("drove"
    # is the only word the passage lacks: 5/6); a3: a refusal; a4: an invented weight; a5: supported, no gold
    assert value(summary, "faithfulness.verifier") == (pytest.approx((0.5 + 1 + 0 + 1) / 4), 4)
    assert value(summary, "citation.recall") == (pytest.approx((0.5 + 1 + 0 + 1) / 4), 4)
    assert value(summary, "citation.precision") == (pytest.approx((0.5 + 1 + 0 + 1) / 4), 4)
    assert value(summary, "abstention.unanswerable_refusal_rate") == (0.5, 2)  # a3 refused, a4 answered
    assert value(summary, "abstention.answerable_refusal_rate") == (0.0, 2)  # a5 has no gold: not counted
    assert value(summary, "abstention.refusal_rate") == (0.2, 5)
    assert value(summary, "faithfulness.ragas") == (None, 0)  # no judge
    assert summary["counts"] | {"ragas_status": None} == {
        "items": 5,
        "answerable": 2,
        "unanswerable": 2,
        "errors": 0,
        "reused_from_cache": 0,
        "evaluated": 5,
        "ragas_status": None,
    }
    records = [json.loads(line) for line in (tmp_path / "items.jsonl").read_text().splitlines()]
    a1 = records[0]["external"]["sentences"]
    assert [(s["text"], s["citations"], s["supported"]) for s in a1] == [
        ("The Harbor Valley Light Railway Order was granted on 22 March 1898.", [1], True),
        ("It cost £48,000 to build.", [2], False),
    ]
    report = (tmp_path / "report.md").read_text()
    assert "Answers of another system, read from" in report and "~~It cost £48,000 to build.[2]~~" in report
    assert (tmp_path / "report.html").is_file()


def test_a_judge_scores_ragas_faithfulness(tmp_path: Path) -> None:
    from eval.ragas_faithfulness import RagasOutcome

    class Judge:
        def score(self, question: str, response: str, contexts: list[str]) -> RagasOutcome:
            return RagasOutcome(0.25, "ok")

    summary = evaluate_answers(Settings(), ANSWERS, tmp_path, scorer=OverlapScorer(), ragas_judge=Judge())
    assert value(summary, "faithfulness.ragas") == (0.25, 5)


def test_the_ragas_layout_is_read_and_written(tmp_path: Path) -> None:
    rows = [
        {
            "user_input": "Who drove the opening train?",
            "response": "William Tregear drove it [1].",
            "retrieved_contexts": ["The opening train was driven by William Tregear."],
            "reference": "William Tregear",
        },
        {"user_input": "How much does No. 1 weigh?", "response": "I don't know.", "retrieved_contexts": []},
    ]
    path = tmp_path / "ragas.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = read_answers(path)
    assert (items[0].item.answers, items[0].gold_known, items[1].gold_known) == (("William Tregear",), True, False)
    summary = evaluate_answers(Settings(), path, tmp_path / "run", scorer=OverlapScorer(), progress=False)
    assert value(summary, "abstention.refusal_rate") == (0.5, 2)
    written = [json.loads(line) for line in (tmp_path / "run" / "ragas_dataset.jsonl").read_text().splitlines()]
    assert written == [
        {k: r[k] for k in ("user_input", "retrieved_contexts", "response", "reference") if k in r} for r in rows
    ]


def test_ragas_evaluation_dataset_round_trips(tmp_path: Path) -> None:
    from eval.ragas_faithfulness import import_ragas_faithfulness

    import_ragas_faithfulness()  # ragas imported offline, tracking off
    from ragas import EvaluationDataset, SingleTurnSample

    source = tmp_path / "from-ragas.jsonl"
    sample = SingleTurnSample(
        user_input="When was the Harbor Valley Light Railway Order granted?",
        response="It was granted on 22 March 1898 [1].",
        retrieved_contexts=["The Harbor Valley Light Railway Order was granted on 22 March 1898."],
        reference="22 March 1898",
    )
    EvaluationDataset(samples=[sample]).to_jsonl(str(source))
    evaluate_answers(Settings(), source, tmp_path / "run", scorer=OverlapScorer(), progress=False)
    back = EvaluationDataset.from_jsonl(str(tmp_path / "run" / "ragas_dataset.jsonl"))
    assert back.samples == [sample]
    ours = evaluate_answers(Settings(), ANSWERS, tmp_path / "ours", scorer=OverlapScorer(), progress=False)
    loaded = EvaluationDataset.from_jsonl(str(tmp_path / "ours" / "ragas_dataset.jsonl"))
    assert len(loaded.samples) == ours["counts"]["items"] and loaded.samples[0].reference == "22 March 1898"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"question": "q", "answer": "a"}, "line 1 has no contexts"),
        ({"user_input": "q", "response": "a"}, "needs user_input, response, retrieved_contexts"),
        ({"question": "q", "answer": "a", "contexts": "one string"}, "must be a list of strings"),
    ],
)
def test_bad_answer_files_name_the_line(tmp_path: Path, line: dict, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(InputError, match=message):
        read_answers(path)


def test_rag_eval_answers_needs_no_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(external, "load_scorer", lambda settings: OverlapScorer())
    args = ["eval", "--answers", str(ANSWERS), "--index", str(tmp_path / "none"), "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(cli.app, [*args, "--json", "--fail-under", "abstention.refusal_rate=0.5"])
    assert result.exit_code == 1, result.output  # 0.2 < 0.5
    assert json.loads(result.stdout)["abstention.refusal_rate"]["value"] == 0.2
    assert not (tmp_path / "none").exists()
    both = CliRunner().invoke(cli.app, ["eval", "--answers", str(ANSWERS), "--dataset", str(ANSWERS)])
    assert both.exit_code == 2 and "either --dataset" in both.stderr
