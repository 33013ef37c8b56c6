"""The evaluation runner end to end with canned answers and the word-overlap scorer: the files it writes,
values computed by hand, resume, fail-under, retrieval-only, judge failures and run comparison."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from eval.compare import compare_runs, comparison_table
from eval.datasets import EvalItem, write_items
from eval.ragas_faithfulness import RagasOutcome
from eval.runner import run_eval
from eval.summary import check_fail_under, parse_fail_under
from eval.variants import raw_variant, verified_variant
from rag.config import Settings
from rag.errors import InputError
from rag.fakes import OverlapScorer
from rag.records import Answer, Chunk, Citation, Passage, Sentence, Verdict
from rag.verify.claims import draft_claims

TEXTS = {"history.md": "The line opened in 1894.", "closure.md": "The line closed in 1962.", "cats.md": "Cats sleep."}
PASSAGES = tuple(
    Passage(Chunk(i, doc, 0, text, 0, len(text)), score=1.0 - i / 10, rank=i)
    for i, (doc, text) in enumerate(TEXTS.items(), start=1)
)
ITEMS = [
    EvalItem("q1", "When did the line open?", ("1894",), ("history.md",), ("The line opened in 1894.",)),
    EvalItem("q2", "How many cats are there?"),
    EvalItem("q3", "When did the line close?", ("1962",), ("closure.md",), ("The line closed in 1962.",)),
]


def supported(text: str, n: int) -> Sentence:
    passage = PASSAGES[n - 1].chunk
    citation = Citation(n, passage.chunk_id, passage.doc_id, passage.text, 0, len(passage.text), 1.0)
    return Sentence(text, Verdict("supported", 1.0), (citation,), (n,))


def answer(question: str, text: str, sentences: tuple[Sentence, ...], raw: str) -> Answer:
    """An Answer as the pipeline makes it: its draft split by the claim rules, all passages retrieved."""
    draft = draft_claims(raw, len(PASSAGES), cut_off=False)
    abstained = not sentences
    return Answer(question, text, abstained, sentences, PASSAGES, raw, retrieved=PASSAGES, draft=draft)


ANSWERS = {
    # the generator adds an unsupported sentence; the filter policy removes it
    "q1": answer(
        "When did the line open?",
        "The line opened in 1894. [1]",
        (supported("The line opened in 1894.", 1),),
        "The line opened in 1894 [1]. It had ten stations [2].",
    ),
    "q2": answer("How many cats are there?", "The corpus does not say.", (), "The sources do not say."),
    "q3": answer("When did the line close?", "The corpus does not say.", (), ""),
}


class CannedAnswers:
    """An Answerer that returns prebuilt answers and fixed passages; counts its calls."""

    def __init__(self, answers: dict[str, Answer] | None = None) -> None:
        self.answers = answers or ANSWERS
        self.searches = 0
        self.asks = 0

    def search(self, query: str, k: int | None = None, mode: str | None = None) -> list[Passage]:
        self.searches += 1
        return list(PASSAGES[:k])

    def ask(self, question: str, k: int | None = None, policy: str | None = None, depth: int | None = None) -> Answer:
        self.asks += 1
        found = next(a for a in self.answers.values() if a.question == question)
        return replace(found, retrieved=PASSAGES[:depth])


class Unusable(CannedAnswers):
    def search(self, query: str, k: int | None = None, mode: str | None = None) -> list[Passage]:
        raise AssertionError("a cached item was evaluated again")

    def ask(self, question: str, k: int | None = None, policy: str | None = None, depth: int | None = None) -> Answer:
        raise AssertionError("a cached item was evaluated again")


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "questions.jsonl"
    write_items(ITEMS, path)
    return path


def run(dataset: Path, out: Path, pipeline: Any, **options: Any) -> dict[str, Any]:
    options.setdefault("scorer", OverlapScorer(threshold=1.0))
    return run_eval(Settings(scorer="heuristic"), dataset, out, pipeline=pipeline, progress=False, **options)


def test_raw_and_verified_variants() -> None:
    raw = raw_variant(ANSWERS["q1"])
    assert [(c.text, c.citations) for c in raw.claims] == [
        ("The line opened in 1894.", (1,)),
        ("It had ten stations.", (2,)),
    ]
    assert raw_variant(ANSWERS["q2"]).abstained  # "The sources do not say." is an abstention sentence
    assert raw_variant(ANSWERS["q3"]).abstained
    assert verified_variant(ANSWERS["q1"]).text == "The line opened in 1894."
    assert verified_variant(ANSWERS["q2"]).abstained


def test_run_writes_everything_with_hand_computed_values(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = run(dataset, out, CannedAnswers())
    for name in ("items.jsonl", "summary.json", "report.md", "report.html"):
        assert (out / name).is_file(), name
    assert json.loads((out / "summary.json").read_text()) == summary
    ragas = [json.loads(line) for line in (out / "ragas_dataset.jsonl").read_text().splitlines()]
    assert ragas[0] == {
        "user_input": "When did the line open?",
        "retrieved_contexts": list(TEXTS.values()),
        "response": "The line opened in 1894. [1]",
        "reference": "1894",
    }
    assert "reference" not in ragas[1]  # unanswerable: no gold answer

    def value(name: str) -> float | None:
        return summary[name]["value"]

    assert value("retrieval.recall@1") == 0.5 and value("retrieval.recall@5") == 1.0
    assert value("retrieval.mrr") == 0.75 and summary["retrieval.mrr"]["n"] == 2
    assert value("faithfulness.verifier") == 1.0 and value("raw.faithfulness.verifier") == 0.5
    assert value("citation.recall") == 1.0 and value("raw.citation.recall") == 0.5
    assert value("citation.precision") == 1.0 and value("raw.citation.precision") == 0.5
    assert value("abstention.unanswerable_refusal_rate") == 1.0
    assert value("raw.abstention.unanswerable_refusal_rate") == 1.0
    assert value("abstention.answerable_refusal_rate") == 0.5
    # q1: 4 tokens vs "1894" -> F1 0.4; q2 abstained on unanswerable -> 1; q3 abstained on answerable -> 0
    assert value("answer.f1") == pytest.approx(1.4 / 3, abs=1e-6)
    assert value("raw.answer.f1") == pytest.approx((2 / 9 + 1) / 3, abs=1e-6)
    assert value("answer.gold_coverage") == 0.5
    assert value("faithfulness.ragas") is None and summary["faithfulness.ragas"]["n"] == 0
    for entry in (v for v in summary.values() if isinstance(v, dict) and "n" in v and v["value"] is not None):
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]
    assert summary["run"]["scorer"] == "heuristic" and summary["run"]["policy"] == "filter"
    assert summary["run"]["effective_threshold"] == 1.0
    assert summary["counts"] == {
        "items": 3,
        "answerable": 2,
        "unanswerable": 1,
        "errors": 0,
        "reused_from_cache": 0,
        "evaluated": 3,
        "ragas_status": {"verified": {"skipped": 3}, "raw": {"skipped": 3}},
    }


def test_items_jsonl_holds_everything_about_each_question(dataset: Path, tmp_path: Path) -> None:
    run(dataset, tmp_path / "run", CannedAnswers())
    records = [json.loads(line) for line in (tmp_path / "run" / "items.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["q1", "q2", "q3"]
    q1 = records[0]
    assert [p["doc_id"] for p in q1["retrieved"]] == list(TEXTS)
    assert q1["answer"]["raw_answer"].startswith("The line opened")
    assert [s["supported"] for s in q1["raw"]["sentences"]] == [True, False]
    assert q1["raw"]["sentences"][1]["citation_recall"] == 0.0
    assert q1["metrics"]["raw.faithfulness.verifier"] == 0.5


def test_reports_highlight_unsupported_sentences_and_embed_plots(dataset: Path, tmp_path: Path) -> None:
    run(dataset, tmp_path / "run", CannedAnswers())
    report_html = (tmp_path / "run" / "report.html").read_text()
    assert report_html.count("data:image/png;base64,") == 3
    assert '<mark class="bad"' in report_html and "It had ten stations." in report_html
    assert "src='http" not in report_html  # self-contained
    report_md = (tmp_path / "run" / "report.md").read_text()
    assert "~~It had ten stations.[2]~~" in report_md
    assert "| faithfulness.verifier (the verifier's own view) | 1.000 [1.000, 1.000] | 1 |" in report_md
    assert "| answer.correct | 0.667 [0.000, 1.000] | 3 |" in report_md


def test_resume_does_no_work_for_cached_items(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = run(dataset, out, CannedAnswers())
    second = run(dataset, out, Unusable())
    assert second["counts"]["reused_from_cache"] == 3 and second["counts"]["evaluated"] == 0
    assert {k: v for k, v in second.items() if k not in ("run", "counts")} == {
        k: v for k, v in first.items() if k not in ("run", "counts")
    }


def test_interrupted_run_continues_where_it_stopped(dataset: Path, tmp_path: Path) -> None:
    class Interrupted(CannedAnswers):
        def ask(self, question: str, **options: Any) -> Answer:
            if self.asks == 1:
                raise KeyboardInterrupt
            return super().ask(question, **options)

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run(dataset, out, Interrupted())
    pipeline = CannedAnswers()
    summary = run(dataset, out, pipeline)
    assert pipeline.asks == 2 and summary["counts"]["reused_from_cache"] == 1


def test_changed_settings_are_not_served_from_cache(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run(dataset, out, CannedAnswers())
    pipeline = CannedAnswers()
    run_eval(
        Settings(scorer="heuristic", top_k=7),
        dataset,
        out,
        pipeline=pipeline,
        scorer=OverlapScorer(threshold=1.0),
        progress=False,
    )
    assert pipeline.asks == 3


def test_rebuilt_index_is_not_served_from_cache(dataset: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    (index / "chunks.sqlite").write_bytes(b"first build")
    settings = Settings(scorer="heuristic", index=index)
    first, second = CannedAnswers(), CannedAnswers()
    run_eval(settings, dataset, tmp_path / "run", pipeline=first, scorer=OverlapScorer(threshold=1.0), progress=False)
    (index / "chunks.sqlite").write_bytes(b"rebuilt with more chunks")
    run_eval(settings, dataset, tmp_path / "run", pipeline=second, scorer=OverlapScorer(threshold=1.0), progress=False)
    assert first.asks == 3 and second.asks == 3


def test_limit_and_retrieval_only(dataset: Path, tmp_path: Path) -> None:
    pipeline = CannedAnswers()
    summary = run(dataset, tmp_path / "run", pipeline, limit=2, retrieval_only=True)
    assert pipeline.asks == 0 and pipeline.searches == 2
    assert summary["counts"]["items"] == 2
    assert "faithfulness.verifier" not in summary and summary["retrieval.mrr"]["value"] == 1.0
    assert (tmp_path / "run" / "report.html").is_file()


def test_item_errors_are_recorded_not_fatal(dataset: Path, tmp_path: Path) -> None:
    class Refusing(CannedAnswers):
        def ask(self, question: str, **options: Any) -> Answer:
            if "cats" in question:
                raise InputError("the question is too long")
            return super().ask(question, **options)

    summary = run(dataset, tmp_path / "run", Refusing())
    assert summary["counts"]["errors"] == 1
    assert summary["abstention.unanswerable_refusal_rate"]["n"] == 0


def test_judge_outcomes_are_counted_not_hidden(dataset: Path, tmp_path: Path) -> None:
    class FakeJudge:
        """Parses the verified answer, fails to parse the raw one (a malformed reply)."""

        def score(self, question: str, response: str, contexts: list[str]) -> RagasOutcome:
            if not response:
                return RagasOutcome(None, "skipped", "empty answer")
            if "ten stations" in response:
                return RagasOutcome(None, "parse_error", "JudgeParseError: no JSON")
            return RagasOutcome(1.0, "ok")

    summary = run(dataset, tmp_path / "run", CannedAnswers(), ragas_judge=FakeJudge(), judge="local")
    assert summary["faithfulness.ragas"]["value"] == 1.0
    assert summary["faithfulness.ragas.parse_failure_rate"]["value"] == 0.0
    assert summary["raw.faithfulness.ragas"]["n"] == 0
    assert summary["raw.faithfulness.ragas.parse_failure_rate"]["value"] == 1.0
    assert summary["counts"]["ragas_status"]["raw"] == {"parse_error": 1, "skipped": 2}


def test_fail_under(dataset: Path, tmp_path: Path) -> None:
    thresholds = parse_fail_under("faithfulness.verifier=0.9, raw.faithfulness.verifier=0.9,faithfulness.ragas=0.5")
    assert thresholds == {"faithfulness.verifier": 0.9, "raw.faithfulness.verifier": 0.9, "faithfulness.ragas": 0.5}
    summary = run(dataset, tmp_path / "run", CannedAnswers(), fail_under=thresholds)
    missed = summary["fail_under"]["missed"]
    assert len(missed) == 2
    assert missed[0].startswith("raw.faithfulness.verifier = 0.5000 < 0.9")
    assert missed[1].startswith("faithfulness.ragas: not measured")
    assert check_fail_under(summary, {"faithfulness.verifier": 0.9}) == []
    assert "Thresholds missed" in (tmp_path / "run" / "report.md").read_text()


@pytest.mark.parametrize("text", ["faithfulness.verifier", "x=abc", "=0.5", "a=0.5,b"])
def test_parse_fail_under_rejects_bad_input(text: str) -> None:
    with pytest.raises(InputError):
        parse_fail_under(text)


def test_compare_runs_paired_deltas(dataset: Path, tmp_path: Path) -> None:
    run(dataset, tmp_path / "a", CannedAnswers())
    better = dict(ANSWERS)
    better["q3"] = answer(
        "When did the line close?",
        "The line closed in 1962. [2]",
        (supported("The line closed in 1962.", 2),),
        "The line closed in 1962 [2].",
    )
    run(dataset, tmp_path / "b", CannedAnswers(better))
    rows = {r["metric"]: r for r in compare_runs(tmp_path / "a", tmp_path / "b")}
    refusal = rows["abstention.answerable_refusal_rate"]
    assert refusal["a"] == 0.5 and refusal["b"] == 0.0 and refusal["delta"] == -0.5 and refusal["paired"]
    assert rows["retrieval.mrr"]["delta"] == 0.0 and rows["retrieval.mrr"]["ci_low"] == 0.0
    f1 = rows["answer.f1"]
    assert f1["delta"] == pytest.approx(f1["b"] - f1["a"]) and f1["ci_low"] <= f1["delta"] <= f1["ci_high"]
    assert comparison_table(list(rows.values()), "a", "b").row_count == len(rows)
    with pytest.raises(InputError):
        compare_runs(tmp_path / "a", tmp_path / "missing")
