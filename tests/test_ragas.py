"""ragas faithfulness: wiring through ragas' own metric with scripted judges (fast), reply parsing, and the
real local judge (SmolLM2 GGUF through llama-cpp-python) on a few answers (slow)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from eval.ragas_faithfulness import (
    JudgeParseError,
    RagasJudge,
    build_judge,
    extract_json,
    import_ragas_faithfulness,
    parse_reply,
)
from rag.config import Settings
from rag.errors import InputError

CONTEXTS = ["The Alpha line opened in 1894. It ran for 12 kilometres along the coast."]


def scripted_llm(replies: list[str]) -> Any:
    """An InstructorBaseRagasLLM (ragas' extension point) that answers each prompt with the next reply."""
    import_ragas_faithfulness()
    from ragas.llms.base import InstructorBaseRagasLLM

    class Scripted(InstructorBaseRagasLLM):
        def __init__(self) -> None:
            self.prompts: list[str] = []

        def generate(self, prompt: str, response_model: type[Any]) -> Any:
            self.prompts.append(prompt)
            return parse_reply(replies[len(self.prompts) - 1], response_model)

        async def agenerate(self, prompt: str, response_model: type[Any]) -> Any:
            return self.generate(prompt, response_model)

    return Scripted()


STATEMENTS = '{"statements": ["The Alpha line opened in 1894.", "The Alpha line is 40 km long."]}'
VERDICTS = (
    '{"statements": [{"statement": "The Alpha line opened in 1894.", "reason": "stated", "verdict": 1},'
    ' {"statement": "The Alpha line is 40 km long.", "reason": "12 km, not 40", "verdict": 0}]}'
)


def test_ragas_metric_scores_supported_over_total() -> None:
    llm = scripted_llm([STATEMENTS, VERDICTS])
    outcome = RagasJudge(llm, "scripted").score("When did it open?", "It opened in 1894 and is 40 km long.", CONTEXTS)
    assert outcome.status == "ok" and outcome.score == 0.5
    assert len(llm.prompts) == 2 and "12 kilometres" in llm.prompts[1]  # verdicts are judged against the contexts


def test_malformed_reply_is_a_counted_parse_error_not_nan() -> None:
    outcome = RagasJudge(scripted_llm(["Sure! The statements are: opened 1894"]), "scripted").score(
        "q", "It opened in 1894.", CONTEXTS
    )
    assert outcome.status == "parse_error" and outcome.score is None and "JudgeParseError" in outcome.detail


def test_wrong_shape_and_no_statements() -> None:
    wrong = RagasJudge(scripted_llm(['{"claims": ["x"]}']), "scripted").score("q", "It opened in 1894.", CONTEXTS)
    assert wrong.status == "parse_error"
    empty = RagasJudge(scripted_llm(['{"statements": []}']), "scripted").score("q", "It opened in 1894.", CONTEXTS)
    assert empty.status == "no_statements" and empty.score is None


def test_empty_answer_or_contexts_are_skipped() -> None:
    judge = RagasJudge(scripted_llm([]), "scripted")
    assert judge.score("q", "  ", CONTEXTS).status == "skipped"
    assert judge.score("q", "It opened.", []).status == "skipped"


def test_extract_json() -> None:
    assert extract_json('```json\n{"a": 1}\n```') == '{"a": 1}'
    assert extract_json('Here: {"a": {"b": 2}} done') == '{"a": {"b": 2}}'
    with pytest.raises(JudgeParseError):
        extract_json("no braces at all")


def test_build_judge_choices() -> None:
    assert build_judge("none", Settings()) is None
    with pytest.raises(InputError):
        build_judge("gpt-judge", Settings())
    with pytest.raises(InputError):
        build_judge("openai", Settings(base_url=None))


def test_tracking_is_off() -> None:
    import os

    import_ragas_faithfulness()
    assert os.environ["RAGAS_DO_NOT_TRACK"] == "true"


@pytest.mark.slow
def test_local_judge_on_real_answers() -> None:
    """The packaged SmolLM2 GGUF as judge: each answer gets a score in [0, 1] or a counted failure."""
    judge = build_judge("local", Settings(threads=2))
    answers = [("When did the Alpha line open?", "The Alpha line opened in 1894."), ("How long is it?", "It is 12 km.")]
    outcomes = [judge.score(q, a, CONTEXTS) for q, a in answers]
    for outcome in outcomes:
        assert outcome.status in ("ok", "parse_error", "no_statements", "error"), outcome
        if outcome.status == "ok":
            assert outcome.score is not None and 0.0 <= outcome.score <= 1.0 and not math.isnan(outcome.score)
        else:
            assert outcome.score is None and outcome.detail
    assert any(o.status != "error" for o in outcomes), outcomes
