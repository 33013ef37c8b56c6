"""Peers benchmark: LlamaIndex, Haystack and the plain baseline (../shared/peers) beside our ingest, one invocation.

    python bench/peers.py [--reps 2] [--corpora clapnq] [--venvs DIR]

The peers' own harness (../shared/peers/run_bench.py, each system in a fresh process of its own venv) and our
worker (this file with --worker, a fresh process of our venv) run in interleaved rounds: round 1 of the peers,
then ours, then round 2, so that the shared machine's load falls on every system alike. Our worker measures
what theirs does, on the same records and questions (read by the peers' own loaders): import, model load,
ingest from the in-memory records to a queryable index (for us: the records written as JSONL, then
`Ingestor.run`, which loads, chunks, embeds, writes SQLite, BM25 and FAISS and commits atomically), top-5 query
latency after two warm-up queries, peak RSS and CLAPNQ recall@5. Our chunking is our default (at most 254
tokens, so most CLAPNQ passages are one chunk); theirs is shown both ways ("split" and "1 per passage").

The peers' venvs are made once by ../shared/peers/setup.sh under --venvs (default ~/.cache/grounded-rag/peers).
Writes bench/out/peers.json and the table; rows put each peer beside ours with ratios (>1: ours is better).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from common import REPO, SHARED, Row, percentile, write_result

PEERS = Path(os.environ.get("RAG_SHARED_PEERS", SHARED.parent / "peers"))
VENVS = Path.home() / ".cache" / "grounded-rag" / "peers"
PEER_VENVS = {"llamaindex": "venv-li", "haystack": "venv-hs", "baseline": "venv-base"}
PASSAGE_TOKENS = 254
MODES = ("split", "passage")
TOP_K = 5
LATENCY_N = 100


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--corpora", default="clapnq", help="clapnq and/or halueval (about 100 s per HaluEval ingest)")
    parser.add_argument("--venvs", type=Path, default=VENVS, help="where the peers' venvs live (made when missing)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", default="clapnq", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="split", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def peers_worker() -> ModuleType:
    """The peers' bench_worker module: its corpus and question loaders are the ones every system is fed."""
    spec = importlib.util.spec_from_file_location("peers_bench_worker", PEERS / "bench_worker.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {PEERS / 'bench_worker.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure_ours(corpus: str, mode: str, out: Path) -> dict[str, Any]:
    """One measurement of our ingest and retrieval, in the peers' JSON layout (mode "split": our default
    chunking; "passage": chunks of up to 254 tokens, the model's limit, so about one per passage)."""
    loaders = peers_worker()
    records = loaders.load_corpus(str(SHARED), corpus)
    questions = loaders.load_questions(str(SHARED))
    started = time.perf_counter()
    from ingest.pipeline import Ingestor
    from rag.config import Settings
    from rag.index.embedding import Embedder
    from rag.retrieval.retriever import IndexRetriever

    import_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as work:
        index = Path(work) / "index"
        settings = Settings(index=index, **({"chunk_size": PASSAGE_TOKENS} if mode == "passage" else {}))
        started = time.perf_counter()
        embedder = Embedder.from_settings(settings)
        embedder.warm_up()
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        source = Path(work) / f"{corpus}.jsonl"
        source.write_text("".join(json.dumps({"pid": pid, "text": text}) + "\n" for pid, text in records))
        chunks = Ingestor(settings, embedder=embedder).run([source], index, rebuild=True).chunks
        ingest_s = time.perf_counter() - started
        retriever = IndexRetriever(index, embedder, settings)
        for _ in range(2):
            retriever.retrieve("warm up query", k=TOP_K)
        latencies, hits, golds = [], 0, 0
        for _qid, question, gold in questions:
            started = time.perf_counter()
            found = [p.chunk.doc_id for p in retriever.retrieve(question, k=TOP_K)]
            latencies.append(time.perf_counter() - started)
            if gold:
                golds += 1
                hits += bool({str(pid) for pid in gold} & set(found))
    result = {
        "system": "grounded-rag",
        "corpus": corpus,
        "mode": mode,
        "n_records": len(records),
        "n_chunks": chunks,
        "import_s": import_s,
        "load_s": load_s,
        "ingest_s": ingest_s,
        "chunks_per_s": chunks / ingest_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "lat_p50_ms": 1000 * percentile(latencies[:LATENCY_N], 50),
        "lat_p95_ms": 1000 * percentile(latencies[:LATENCY_N], 95),
        "recall_at_5": hits / golds if corpus == "clapnq" and golds else None,
    }
    out.write_text(json.dumps(result, indent=1))
    return result


def ensure_venvs(root: Path) -> dict[str, Path]:
    """The three peers' venvs, made by the peers' setup script when one is missing."""
    venvs = {name: root / folder for name, folder in PEER_VENVS.items()}
    if not all((venv / "bin" / "python").exists() for venv in venvs.values()):
        print(f"making the peers' venvs under {root} (once, a few minutes)", file=sys.stderr, flush=True)
        subprocess.run(["bash", str(PEERS / "setup.sh"), str(root)], check=True)
    return venvs


def peers_round(venvs: dict[str, Path], corpora: str, out: Path) -> list[dict[str, Any]]:
    """One round of the peers' harness (every peer, split and 1-per-passage chunking)."""
    command = [
        sys.executable,
        str(PEERS / "run_bench.py"),
        "--data-dir",
        str(SHARED),
        "--out-dir",
        str(out),
        "--reps",
        "1",
        "--corpora",
        corpora,
        *[arg for name, venv in venvs.items() for arg in (f"--venv-{name}", str(venv))],
    ]
    subprocess.run(command, check=True, stdout=sys.stderr)
    return json.loads((out / "results.json").read_text())["runs"]


def ours_round(corpus: str, mode: str, out: Path) -> dict[str, Any]:
    """One measurement of ours in a fresh process, like each peer's."""
    script = str(Path(__file__).resolve())
    command = [sys.executable, script, "--worker", "--corpus", corpus, "--mode", mode, "--out", str(out)]
    subprocess.run(command, check=True, cwd=REPO, stdout=sys.stderr)
    return json.loads(out.read_text())


def label(run: dict[str, Any]) -> str:
    chunking = {"split": "default chunking", "passage": "1 chunk per passage"}[run["mode"]]
    if run["system"] == "grounded-rag" and run["mode"] == "passage":
        chunking = "chunks of up to 254 tokens"
    of = f" on {run['chunks_of']} chunks" if run.get("chunks_of") else ""
    return f"{run['system']}{of} ({chunking})"


def rows_for(corpus: str, peers: list[dict[str, Any]], ours: list[dict[str, Any]]) -> list[Row]:
    """Each peer's medians beside ours in the same chunking mode: ingest chunks/s, query p50/p95, peak RSS,
    recall@5."""
    figures = (
        ("ingest chunks/s", "chunks_per_s", "chunks/s", True),
        ("top-5 query p50", "lat_p50_ms", "ms", False),
        ("top-5 query p95", "lat_p95_ms", "ms", False),
        ("peak RSS", "peak_rss_mb", "MB", False),
        ("recall@5", "recall_at_5", "", True),
    )
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in peers:
        if run["corpus"] == corpus:
            groups.setdefault((run["mode"], label(run)), []).append(run)

    def median(runs: list[dict[str, Any]], key: str) -> float | None:
        values = [r[key] for r in runs if r.get(key) is not None]
        return statistics.median(values) if values else None

    rows = []
    for (mode, name), runs in groups.items():
        mine = [run for run in ours if run["mode"] == mode and run["corpus"] == corpus]
        if not mine:
            continue
        for metric, key, unit, higher in figures:
            if median(runs, key) is not None:
                theirs, our_figure = median(runs, key), median(mine, key)
                rows.append(Row(f"{corpus} {metric}", theirs, our_figure, unit, higher, name, label(mine[0])))
    return rows


def main() -> None:
    args = parse_args()
    if args.worker:
        measure_ours(args.corpus, args.mode, args.out)
        return
    if not (PEERS / "run_bench.py").exists() or not SHARED.exists():
        raise SystemExit(f"needs {PEERS} and {SHARED} (the ../shared folder beside the checkout)")
    venvs = ensure_venvs(args.venvs)
    corpora = args.corpora.split(",")
    work = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    peers: list[dict[str, Any]] = []
    ours: list[dict[str, Any]] = []
    started = time.perf_counter()
    for number in range(1, args.reps + 1):
        print(f"round {number}/{args.reps}: peers", file=sys.stderr, flush=True)
        peers += peers_round(venvs, args.corpora, work / f"peers-{number}")
        for corpus in corpora:
            for mode in MODES:
                print(f"round {number}/{args.reps}: grounded-rag, {corpus}, {mode}", file=sys.stderr, flush=True)
                ours.append(ours_round(corpus, mode, work / f"ours-{corpus}-{mode}-{number}.json"))
    rows = [row for corpus in corpora for row in rows_for(corpus, peers, ours)]
    notes = [
        f"{args.reps} interleaved rounds in {time.perf_counter() - started:.0f} s; medians over the rounds",
        "every system in a fresh process; ingest = in-memory records to a queryable index (ours includes "
        "writing them as JSONL, SQLite, BM25 and the atomic commit); queries after 2 warm-ups, first 100",
        "ours is the hybrid retriever (dense + BM25); the peers and the baseline are dense-only",
    ]
    write_result("peers", rows, notes, {"peers": peers, "ours": ours})


if __name__ == "__main__":
    main()
