"""Ask benchmark: how long a user waits, with the default models, for the earlier defaults and the new ones.

    python bench/ask.py [--index indexes/sample] [--questions data/questions.jsonl] [--count 12] [--cli-runs 3]

Each configuration in CONFIGS is loaded once (Pipeline.warm_up, timed apart); each question is then asked by
every configuration in turn, so all see the same machine load. Per question and configuration:
- first verified sentence: from the call until the first verified sentence is available to show. Neither
  composition verifies while streaming, so it arrives with the answer; abstentions have none and are left out;
- whole answer: until the answer (or the abstention) is complete;
- the stages' own timings (Answer.timings).
Beside them: the same question over the service's SSE stream (a real uvicorn on loopback, time to the `answer`
event), `rag ask` as a fresh process (start-up and model loading included: pressing Enter in the CLI), and how
long a bad question (empty, 100 KB) takes to be refused in-process, by the service and by the CLI.
The issue's goals stand in the baseline column of their rows: first sentence 1.5 s p50, whole answer 3 s p50,
refusal of a bad question 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import REPO, Row, percentile, timed, write_result

# settings overridden per configuration: before the trusted-answers work every answer was generated ("free")
CONFIGS: dict[str, dict[str, Any]] = {
    "earlier defaults": {"composition": "free", "generated_support_threshold": 0.0},  # 0: the scorer's own
    "defaults": {},
}
FIRST_SENTENCE_GOAL_MS = 1500.0
ANSWER_GOAL_MS = 3000.0
REJECT_GOAL_MS = 200.0
STAGES = ("retrieve", "context", "prompt", "generate", "verify", "select")
BAD_QUESTIONS = {"empty": "", "100 KB": "x" * 100_000}
RAG = str(Path(sys.executable).with_name("rag"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=REPO / "indexes" / "sample")
    parser.add_argument("--questions", type=Path, default=REPO / "data" / "questions.jsonl")
    parser.add_argument("--count", type=int, default=12, help="questions asked (answerable and not, in file order)")
    parser.add_argument("--cli-runs", type=int, default=3, help="questions also asked as a fresh `rag ask` process")
    return parser.parse_args()


def questions(path: Path, count: int) -> list[str]:
    return [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()][:count]


@dataclass
class Runs:
    """One configuration's loaded pipeline and what its questions took (milliseconds)."""

    pipeline: Any
    warm_up_ms: float
    first_sentence: list[float] = field(default_factory=list)
    whole: list[float] = field(default_factory=list)
    sse: list[float] = field(default_factory=list)
    cli: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=lambda: {stage: [] for stage in STAGES})
    abstained: int = 0

    def ask(self, question: str) -> None:
        started = time.perf_counter()
        answer = None
        for kind, payload in self.pipeline.ask_stream(question):
            if kind == "answer":
                answer = payload
        elapsed = (time.perf_counter() - started) * 1000
        assert answer is not None
        self.whole.append(elapsed)
        if answer.sentences:
            self.first_sentence.append(elapsed)
        self.abstained += answer.abstained
        for stage in STAGES:
            self.stages[stage].append(answer.timings.get(stage, 0.0) * 1000)
        print(f"{elapsed:7.0f} ms  abstained={answer.abstained}  {question}", file=sys.stderr, flush=True)


def loaded(index: Path, overrides: dict[str, Any]) -> Runs:
    from rag.pipeline import Pipeline

    pipeline = Pipeline.from_index(index, **overrides)
    seconds, _ = timed(pipeline.warm_up)
    return Runs(pipeline, seconds * 1000)


def sse_ms(base: str, question: str) -> float:
    """Milliseconds from posting the question to the stream's `answer` event."""
    import httpx

    started = time.perf_counter()
    with httpx.stream("POST", f"{base}/ask/stream", json={"question": question}, timeout=600) as response:
        for line in response.iter_lines():
            if line.startswith("event: answer"):
                break
    return (time.perf_counter() - started) * 1000


def ask_over_sse(runs: dict[str, Runs], asked: list[str]) -> dict[str, float]:
    """Every question over each configuration's service, in turn; then the milliseconds the default service takes
    to refuse each bad question."""
    from contextlib import ExitStack

    from rag.serve.app import create_app, serve_in_thread

    with ExitStack() as stack:
        bases = {
            name: stack.enter_context(serve_in_thread(create_app(run.pipeline.settings, pipeline=run.pipeline)))
            for name, run in runs.items()
        }
        for question in asked:
            for name, run in runs.items():
                run.sse.append(sse_ms(bases[name], question))
        return {label: service_refusal_ms(bases["defaults"], q) for label, q in BAD_QUESTIONS.items()}


def service_refusal_ms(base: str, question: str) -> float:
    import httpx

    times = []
    for _ in range(5):
        started = time.perf_counter()
        status = httpx.post(f"{base}/ask", json={"question": question}, timeout=60).status_code
        times.append((time.perf_counter() - started) * 1000)
        assert status >= 400, f"the service accepted a bad question ({status})"
    return statistics.median(times)


def process_ms(command: list[str], env: dict[str, str], runs: int = 1, status: int = 0) -> float:
    """Median wall time of a fresh process running `command`, which must end with exit status `status` (a
    process that failed early would otherwise count as a fast one)."""

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO, env=env)

    times = []
    for _ in range(runs):
        seconds, done = timed(run)
        if done.returncode != status:
            raise SystemExit(f"{command[:2]} exited {done.returncode}, not {status}: {done.stderr.strip()[-300:]}")
        times.append(seconds)
    return statistics.median(times) * 1000


def cli_env(overrides: dict[str, Any]) -> dict[str, str]:
    return {**os.environ, **{f"RAG_{key.upper()}": str(value) for key, value in overrides.items()}}


def ask_from_cli(runs: dict[str, Runs], index: Path, asked: list[str]) -> None:
    for question in asked:
        for name, run in runs.items():
            run.cli.append(process_ms([RAG, "ask", question, "--index", str(index)], cli_env(CONFIGS[name])))


def in_process_refusal_ms(check: Callable[[str], str], question: str) -> float:
    started = time.perf_counter()
    from rag.errors import InputError

    try:
        check(question)
    except InputError:
        return (time.perf_counter() - started) * 1000
    raise AssertionError("a bad question was accepted")


def refusal_rows(where: str, refusals: dict[str, float]) -> list[Row]:
    return [
        Row(f"refuse a {label} question, {where}", REJECT_GOAL_MS, ms, "ms", False, "goal")
        for label, ms in refusals.items()
    ]


def p50(values: list[float]) -> float | None:
    return percentile(values, 50) if values else None


def p95(values: list[float]) -> float | None:
    return percentile(values, 95) if values else None


def main() -> None:
    args = parse_args()
    if not (args.index / "CURRENT").exists():
        raise SystemExit(f"no index at {args.index}: run `make ingest` first")
    asked = questions(args.questions, args.count)
    cli_refusals = {label: process_ms([RAG, "ask", q], dict(os.environ), 3, 2) for label, q in BAD_QUESTIONS.items()}
    runs = {name: loaded(args.index, overrides) for name, overrides in CONFIGS.items()}
    check = runs["defaults"].pipeline.check_question
    refusals = {label: in_process_refusal_ms(check, q) for label, q in BAD_QUESTIONS.items()}
    for question in asked:
        for run in runs.values():
            run.ask(question)
    service_refusals = ask_over_sse(runs, asked)
    ask_from_cli(runs, args.index, asked[: args.cli_runs])
    earlier, ours = runs["earlier defaults"], runs["defaults"]

    def paired(metric: str, values: Callable[[Runs], list[float]]) -> list[Row]:
        return [
            Row(f"{metric} p50", p50(values(earlier)), p50(values(ours)), "ms", False, "earlier defaults"),
            Row(f"{metric} p95", p95(values(earlier)), p95(values(ours)), "ms", False, "earlier defaults"),
        ]

    rows = [
        Row(
            "first verified sentence p50 (goal)", FIRST_SENTENCE_GOAL_MS, p50(ours.first_sentence), "ms", False, "goal"
        ),
        *paired("first verified sentence", lambda r: r.first_sentence),
        Row("whole answer p50 (goal)", ANSWER_GOAL_MS, p50(ours.whole), "ms", False, "goal"),
        *paired("whole answer", lambda r: r.whole),
        *paired("SSE stream, to the answer event", lambda r: r.sse),
        *paired("`rag ask` as a fresh process (start-up, loading, answer)", lambda r: r.cli),
        Row("model loading (warm_up, once)", earlier.warm_up_ms, ours.warm_up_ms, "ms", False, "earlier defaults"),
        *[
            Row(f"stage {stage} p50", p50(earlier.stages[stage]), p50(ours.stages[stage]), "ms", False, "earlier")
            for stage in STAGES
            if any(earlier.stages[stage]) or any(ours.stages[stage])
        ],
        *[Row(f"refuse a {label} question, in-process", None, ms, "ms", False) for label, ms in refusals.items()],
        *refusal_rows("service", service_refusals),
        *refusal_rows("`rag ask`", cli_refusals),
    ]
    abstained = ", ".join(f"{name} {run.abstained} of {len(run.whole)}" for name, run in runs.items())
    notes = [
        f"{len(asked)} questions from {args.questions.name}, each asked by every configuration in turn; "
        f"abstained: {abstained}; `rag ask` processes: the first {args.cli_runs} questions",
        f"index {args.index}; configurations: {CONFIGS}; neither composition verifies while streaming, so the "
        "first verified sentence arrives with the whole answer",
        "answer quality of the two configurations: `python -m eval.judged --run ...` (README, trusted answers)",
    ]
    extra = {
        f"{kind}_ms {name}": getattr(run, kind)
        for name, run in runs.items()
        for kind in ("first_sentence", "whole", "sse", "cli")
    }
    write_result("ask", rows, notes, extra)


if __name__ == "__main__":
    main()
