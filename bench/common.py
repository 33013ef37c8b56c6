"""Shared by the benchmark scripts: result rows, percentiles, timing, machine facts and the output files.

Each benchmark writes bench/out/<name>.json: {"benchmark", "machine", "rows": [Row...], "notes": [...]}.
A row puts our figure beside its baseline with the ratio oriented so that above 1 is better for us.
Benchmarks assert nothing about time: the machine is shared and timings are noisy, so baseline and
candidate are measured in the same run, interleaved, and compared as ratios.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
SHARED = Path(os.environ.get("RAG_SHARED_DATA", REPO.parent / "shared" / "data"))
QUESTIONS = REPO / "runs" / "clapnq" / "questions.jsonl"  # CLAPNQ in the eval format (made when missing)
LIBRARIES = (
    "torch",
    "sentence-transformers",
    "transformers",
    "onnxruntime",
    "faiss-cpu",
    "bm25s",
    "llama_cpp_python",
    "numpy",
)

# The repository goes first on the path: this folder's ingest.py would otherwise shadow the ingest package.
sys.path[:] = [str(REPO)] + [p for p in sys.path if p != str(REPO)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@dataclass
class Row:
    """One measured figure: ours beside the baseline; ratio > 1 means ours is better."""

    metric: str
    baseline: float | None
    ours: float | None
    unit: str
    higher_is_better: bool = True
    baseline_name: str = ""
    ours_name: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.baseline or not self.ours:
            return None
        return self.ours / self.baseline if self.higher_is_better else self.baseline / self.ours

    def to_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        return {**asdict(self), "ratio": None if ratio is None else round(ratio, 3)}


def percentile(values: Iterable[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1] if len(ordered) > 1 else ordered[0]


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def latencies_ms(function: Callable[[Any], Any], inputs: Iterable[Any]) -> list[float]:
    """Milliseconds of one call per input."""
    return [timed(lambda item=item: function(item))[0] * 1000 for item in inputs]


def machine() -> dict[str, Any]:
    """Cores, CPU, Python and library versions, to print and to store beside the figures."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "int8_instructions": int8_instructions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": versions,
    }


def machine_line(facts: dict[str, Any]) -> str:
    """One line for a table's notes: cores, CPU and the int8 instruction sets, whose figures depend on them."""
    instructions = ", ".join(facts.get("int8_instructions") or []) or "no AVX2"
    return f"{facts['cores']} cores, {facts['cpu']} ({instructions}); python {facts['python']}"


def cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or "unknown"


# the instruction sets ONNX Runtime's int8 kernels use: with VNNI the verifier's int8 cross-encoder ran 2.4x its
# fp32 PyTorch speed, on AVX2 alone 1.65x, and its scores differ slightly between the two (README, model card)
INT8_INSTRUCTIONS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def int8_instructions() -> list[str]:
    """Which of INT8_INSTRUCTIONS this CPU has (empty where /proc/cpuinfo is not readable)."""
    flags = set(_cpuinfo("flags").split())
    return [name for name in INT8_INSTRUCTIONS if name in flags]


def _cpuinfo(field: str) -> str:
    """The first value of `field` in /proc/cpuinfo, or "" where it is absent or unreadable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == field:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def write_result(name: str, rows: list[Row], notes: list[str], extra: dict[str, Any] | None = None) -> Path:
    """bench/out/<name>.json, and the rows printed as a table."""
    OUT.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": name,
        "machine": machine(),
        "load_average_1m": load_average(),
        "rows": [r.to_dict() for r in rows],
        "notes": notes,
        **(extra or {}),
    }
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(data, indent=2))
    print(markdown_table(name, data["rows"]))
    print(f"- {machine_line(data['machine'])}")
    for note in notes:
        print(f"- {note}")
    return path


def fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def markdown_table(name: str, rows: list[dict[str, Any]]) -> str:
    lines = [
        f"### {name}",
        "",
        "| metric | baseline | ours | ratio (>1 better) | unit |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        baseline = f"{fmt(row['baseline'])} ({row['baseline_name']})" if row["baseline_name"] else fmt(row["baseline"])
        ours = f"{fmt(row['ours'])} ({row['ours_name']})" if row["ours_name"] else fmt(row["ours"])
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "–"
        lines.append(f"| {row['metric']} | {baseline} | {ours} | {ratio} | {row['unit']} |")
    return "\n".join(lines) + "\n"


def passage_records(path: Path) -> tuple[list[str], list[str]]:
    """(texts, pids) of a CLAPNQ passages file."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["text"] for r in records], [str(r.get("pid", r.get("id"))) for r in records]


def quality(search: Callable[[str], list[str]], items: Iterable[Any], k: int = 5) -> tuple[float, float]:
    """(recall@k, MRR) over the items; `search` gives the doc ids found for a question, best first."""
    from eval.metrics import recall_at_k, reciprocal_rank

    recalls, ranks = [], []
    for item in items:
        found = list(dict.fromkeys(search(item.question)))
        recalls.append(recall_at_k(found, item.gold_doc_ids, k))
        ranks.append(reciprocal_rank(found, item.gold_doc_ids))
    return statistics.fmean(recalls), statistics.fmean(ranks)


def answerable(questions: Path, passages: Path) -> list[Any]:
    """Answerable eval items, converting the CLAPNQ questions first when the eval set is missing."""
    from eval.datasets import CONVERTERS, load_items, write_items

    if not questions.exists():
        sources = [passages.parent / f"questions_{kind}.jsonl" for kind in ("answerable", "unanswerable")]
        questions.parent.mkdir(parents=True, exist_ok=True)
        write_items(CONVERTERS["clapnq"](sources, passages), questions)
    return [item for item in load_items(questions) if item.answerable and item.gold_doc_ids]
