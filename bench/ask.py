"""Ask benchmark: end-to-end latency (retrieve + generate + verify) with the default models, and start-up time.

    python bench/ask.py [--index indexes/sample] [--questions data/questions.jsonl] [--count 12]

Models load once (Pipeline.warm_up, timed apart); each question is then asked one at a time, in turn by every
configuration in CONFIGS (the first version's generation settings, the defaults, and the shorter
context=sentences prompt), so all see the same machine load. The goals from the issue stand in the
baseline column of their rows: p50 under 3 s on 2 cores, `rag --help` under 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import REPO, Row, percentile, timed, write_result

ASK_GOAL_MS = 3000.0
# settings overridden per configuration; "first version": 256 new tokens and llama.cpp's default prompt batch,
# without flash attention (what the first release ran)
CONFIGS: dict[str, dict[str, Any]] = {
    "first version": {"max_tokens": 256, "prompt_batch": 512, "flash_attention": False},
    "defaults": {},
    "context=sentences": {"context": "sentences"},
}
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


@dataclass
class Runs:
    """One configuration's loaded pipeline and what its questions took."""

    pipeline: Any
    warm_up_ms: float
    totals: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=lambda: {stage: [] for stage in STAGES})
    answers: list[Any] = field(default_factory=list)

    def ask(self, question: str) -> None:
        seconds, answer = timed(lambda: self.pipeline.ask(question))
        self.totals.append(seconds * 1000)
        self.answers.append(answer)
        for stage in STAGES:
            self.stages[stage].append(answer.timings.get(stage, 0.0) * 1000)
        print(f"{seconds * 1000:7.0f} ms  abstained={answer.abstained}  {question}", flush=True)


def loaded(index: Path, overrides: dict[str, Any]) -> Runs:
    from rag.pipeline import Pipeline

    pipeline = Pipeline.from_index(index, **overrides)
    seconds, _ = timed(pipeline.warm_up)
    return Runs(pipeline, seconds * 1000)


def ask_all(index: Path, asked: list[str]) -> dict[str, Runs]:
    """Every configuration in CONFIGS loaded once; each question asked by all of them in turn."""
    runs = {name: loaded(index, overrides) for name, overrides in CONFIGS.items()}
    for question in asked:
        for run in runs.values():
            run.ask(question)
    return runs


def main() -> None:
    args = parse_args()
    if not (args.index / "CURRENT").exists():
        raise SystemExit(f"no index at {args.index}: run `make ingest` first")
    help_ms = startup_ms([RAG, "--help"], args.startup_runs)
    import_ms = startup_ms([sys.executable, "-c", "import rag.index.embedding, rag.index.vectors, rag.config"], 3)
    runs = ask_all(args.index, questions(args.questions, args.count))
    first, ours, short = runs["first version"], runs["defaults"], runs["context=sentences"]
    p50, p95 = percentile(ours.totals, 50), percentile(ours.totals, 95)
    rows = [
        Row("ask p50 (retrieve+generate+verify)", ASK_GOAL_MS, p50, "ms", False, "goal"),
        Row("ask p95", ASK_GOAL_MS, p95, "ms", False, "goal"),
        Row("ask p50 vs first version", percentile(first.totals, 50), p50, "ms", False, "first version"),
        Row("ask p95 vs first version", percentile(first.totals, 95), p95, "ms", False, "first version"),
        Row("ask p50, context=sentences", ASK_GOAL_MS, percentile(short.totals, 50), "ms", False, "goal"),
        Row("`rag --help` start-up", STARTUP_GOAL_MS, help_ms, "ms", False, "goal"),
        Row("import ingest.embedding+vectors+config", STARTUP_GOAL_MS, import_ms, "ms", False, "goal"),
        *[
            Row(f"stage {s} p50", percentile(first.stages[s], 50), percentile(v, 50), "ms", False, "first version")
            for s, v in ours.stages.items()
            if any(v) or any(first.stages[s])
        ],
        # the first configuration loaded pays for every model; later ones reuse the process-wide caches
        Row("model loading (warm_up, once)", None, first.warm_up_ms, "ms", False),
    ]
    abstained = ", ".join(f"{name} {sum(a.abstained for a in run.answers)}" for name, run in runs.items())
    notes = [
        f"{len(ours.totals)} questions from {args.questions.name}, each asked by every configuration in turn; "
        f"abstained: {abstained}",
        f"index {args.index}; configurations: {CONFIGS}",
    ]
    extra = {f"latencies_ms {name}": run.totals for name, run in runs.items()}
    write_result("ask", rows, notes, extra)


if __name__ == "__main__":
    main()
