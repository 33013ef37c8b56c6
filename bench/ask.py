"""Ask benchmark: end-to-end latency (retrieve + generate + verify) with the default models, and start-up time.

    python bench/ask.py [--index indexes/sample] [--questions data/questions.jsonl] [--count 12]

Models load once (Pipeline.warm_up, timed apart); each question is then asked one at a time. The goals from
the issue stand in the baseline column: p50 under 3 s on 2 cores, `rag --help` under 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import REPO, Row, percentile, timed, write_result

ASK_GOAL_MS = 3000.0
STARTUP_GOAL_MS = 1000.0
STAGES = ("retrieve", "context", "prompt", "generate", "verify", "extractive")
RAG = str(Path(sys.executable).with_name("rag"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=REPO / "indexes" / "sample")
    parser.add_argument("--questions", type=Path, default=REPO / "data" / "questions.jsonl")
    parser.add_argument("--count", type=int, default=12, help="questions asked (answerable and not, in file order)")
    parser.add_argument("--startup-runs", type=int, default=3)
    return parser.parse_args()


def questions(path: Path, count: int) -> list[str]:
    return [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()][:count]


def startup_ms(command: list[str], runs: int) -> float:
    """Median wall time of a fresh process running `command`."""
    times = [timed(lambda: subprocess.run(command, capture_output=True, check=False, cwd=REPO))[0] for _ in range(runs)]
    return statistics.median(times) * 1000


def ask_all(index: Path, asked: list[str]) -> tuple[float, list[float], dict[str, list[float]], list[Any]]:
    """(warm-up seconds, per-question ms, per-stage ms, answers)."""
    from rag.pipeline import Pipeline

    pipeline = Pipeline.from_index(index)
    warm_up, _ = timed(pipeline.warm_up)
    totals: list[float] = []
    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
    answers = []
    for question in asked:
        seconds, answer = timed(lambda question=question: pipeline.ask(question))
        totals.append(seconds * 1000)
        answers.append(answer)
        for stage in STAGES:
            stages[stage].append(answer.timings.get(stage, 0.0) * 1000)
        print(f"{seconds * 1000:7.0f} ms  abstained={answer.abstained}  {question}", flush=True)
    return warm_up, totals, stages, answers


def main() -> None:
    args = parse_args()
    if not (args.index / "CURRENT").exists():
        raise SystemExit(f"no index at {args.index}: run `make ingest` first")
    help_ms = startup_ms([RAG, "--help"], args.startup_runs)
    import_ms = startup_ms([sys.executable, "-c", "import ingest.embedding, ingest.vectors, rag.config"], 3)
    warm_up, totals, stages, answers = ask_all(args.index, questions(args.questions, args.count))
    rows = [
        Row("ask p50 (retrieve+generate+verify)", ASK_GOAL_MS, percentile(totals, 50), "ms", False, "goal"),
        Row("ask p95", ASK_GOAL_MS, percentile(totals, 95), "ms", False, "goal"),
        Row("`rag --help` start-up", STARTUP_GOAL_MS, help_ms, "ms", False, "goal"),
        Row("import ingest.embedding+vectors+config", STARTUP_GOAL_MS, import_ms, "ms", False, "goal"),
        *[Row(f"stage {s} p50", None, percentile(v, 50), "ms", False) for s, v in stages.items() if any(v)],
        Row("model loading (warm_up, once)", None, warm_up * 1000, "ms", False),
    ]
    abstained = sum(a.abstained for a in answers)
    notes = [
        f"{len(totals)} questions from {args.questions.name} asked one at a time; {abstained} abstained",
        f"index {args.index}; default settings (generator, scorer, embedder backend from rag.config)",
    ]
    write_result("ask", rows, notes, {"latencies_ms": totals})


if __name__ == "__main__":
    main()
