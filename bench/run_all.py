"""Run every benchmark, each in a fresh process, and gather them into bench/results.json and bench/results.md.

    python bench/run_all.py [--scale-n 100000] [--scale-flat-max 50000] [--only ingest,ask,scale,verifier,serve]

With --only, the other benchmarks' results already in bench/results.json are kept (and named as kept), so one
benchmark can be rerun without erasing the rest. The scale case defaults to 100k vectors with the flat threshold
lowered so that the approximate index is measured quickly; `make bench-scale` runs the full 1M case.
bench/serve_load.py (the HTTP load benchmark, kept by the service's owner) is run with its quick model-free
pipeline when it is present.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from common import OUT, REPO, machine, machine_line, markdown_table

BENCH = REPO / "bench"
ALL = ("ingest", "ask", "scale", "verifier", "serve")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale-n", type=int, default=100_000)
    parser.add_argument("--scale-flat-max", type=int, default=50_000)
    parser.add_argument("--ingest-repeat", type=int, default=2)
    parser.add_argument("--only", default=",".join(ALL))
    return parser.parse_args()


def commands(args: argparse.Namespace) -> dict[str, tuple[list[str], str]]:
    """name -> (command, the bench/out file it writes)."""
    python = sys.executable
    scale = f"scale-{args.scale_n // 1000}k"
    found = {
        "ingest": ([python, "bench/ingest.py", "--repeat", str(args.ingest_repeat)], "ingest"),
        "ask": ([python, "bench/ask.py"], "ask"),
        "scale": (
            [python, "bench/scale.py", "--n", str(args.scale_n), "--flat-max", str(args.scale_flat_max)],
            scale,
        ),
        "verifier": ([python, "bench/verifier.py"], "verifier"),
    }
    if (BENCH / "serve_load.py").exists():
        found["serve"] = ([python, "bench/serve_load.py", "--fake"], "serve")
    return found


def run(name: str, command: list[str]) -> tuple[int, float]:
    print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    code = subprocess.run(command, cwd=REPO, check=False).returncode
    return code, time.perf_counter() - started


def serve_table(data: dict[str, Any]) -> str:
    lines = ["### serve (bench/serve_load.py)", "", "| endpoint | clients | req/s | p50 ms | p95 ms | ok |"]
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for r in data.get("results", []):
        lines.append(f"| {r['endpoint']} | {r['clients']} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} | {r['ok']} |")
    return "\n".join(lines) + "\n"


def section(name: str, data: dict[str, Any]) -> str:
    if name == "serve":
        return serve_table(data)
    notes = "".join(f"- {note}\n" for note in data.get("notes", []))
    return markdown_table(data["benchmark"], data["rows"]) + ("\n" + notes if notes else "")


def markdown(facts: dict[str, Any], results: dict[str, Any], runs: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in facts["libraries"].items() if v)
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {facts['cores']} cores ({facts['cpu']}), Python {facts['python']}; {versions}.",
        "Ratios are oriented so that above 1 is better for ours; baseline and ours run in the same process, "
        "interleaved where both are timed. Timings on a shared machine are noisy: compare ratios, not absolutes.",
        "",
    ]
    if facts.get("kept_from_earlier_run"):
        kept = ", ".join(facts["kept_from_earlier_run"])
        lines += [f"Not rerun this time, kept from an earlier run (perhaps another machine): {kept}.", ""]
    for name, data in results.items():
        lines.append(section(name, data))
    failed = [f"{n} (exit {r['exit_code']})" for n, r in runs.items() if r["exit_code"]]
    if failed:
        lines.append(f"Failed: {', '.join(failed)}.\n")
    return "\n".join(lines)


def kept_results(wanted: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The runs and results of bench/results.json for the benchmarks not being rerun (none when all are)."""
    stored = BENCH / "results.json"
    if set(ALL) <= set(wanted) or not stored.exists():
        return {}, {}
    earlier = json.loads(stored.read_text())
    runs = {name: run for name, run in earlier.get("runs", {}).items() if name not in wanted}
    return runs, {name: data for name, data in earlier.get("results", {}).items() if name not in wanted}


def main() -> None:
    args = parse_args()
    facts = machine()
    print(machine_line(facts))
    print("libraries: " + ", ".join(f"{k} {v}" for k, v in facts["libraries"].items()))
    wanted = args.only.split(",")
    runs, results = kept_results(wanted)
    kept = sorted(results)
    for name, (command, output) in commands(args).items():
        if name not in wanted:
            continue
        (OUT / f"{output}.json").unlink(missing_ok=True)
        code, seconds = run(name, command)
        runs[name] = {"exit_code": code, "seconds": round(seconds, 1)}
        path = OUT / f"{output}.json"
        if code == 0 and path.exists():
            results[name] = json.loads(path.read_text())
    results = {name: results[name] for name in ALL if name in results}
    facts = {**facts, "kept_from_earlier_run": kept} if kept else facts
    (BENCH / "results.json").write_text(
        json.dumps({"machine": facts, "runs": runs, "results": results}, indent=2) + "\n"
    )
    (BENCH / "results.md").write_text(markdown(facts, results, runs))
    print(f"\nwrote {BENCH / 'results.json'} and {BENCH / 'results.md'}")


if __name__ == "__main__":
    main()
