"""Ray ingest throughput: the Ray engine with 1 and 2 embedder workers against the local engine, same corpus.

    python bench/ray_ingest.py [--limit N] [--workers 1,2] [--store faiss]

Every run is a whole `run()` from nothing into a fresh index with the default embedder (onnx-int8): load,
chunk, embed, write, BM25, atomic commit. The local engine's embedder is loaded before its timing starts; the
Ray runs are timed from the job's start (their actors load the model inside the timing, as on a cluster), with
the Ray instance already up (its start-up is reported on its own). Each engine runs on half the corpus and on
all of it: the difference gives the rate once running, without the fixed start-up of a job, which is what a
plan for millions of chunks needs. Default corpus: the CLAPNQ passages.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from common import REPO, SHARED, Row, timed, write_result

# Ray's workers import the ingest package: the repository first, not this folder (whose ingest.py shadows it)
os.chdir(REPO)
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=Path, default=SHARED / "clapnq" / "passages.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="use the first N passages only")
    parser.add_argument("--workers", default="1,2", help="comma-separated embedder worker counts")
    parser.add_argument("--store", default="faiss", help="vector store URI for every run")
    return parser.parse_args()


def corpus(passages: Path, limit: int | None, work: Path, name: str) -> Path:
    """A folder holding the passages (or the first `limit`) as one JSONL file."""
    target = work / name / "passages.jsonl"
    target.parent.mkdir()
    lines = passages.read_text().splitlines(keepends=True)
    target.write_text("".join(lines[:limit] if limit else lines))
    return target.parent


def timed_run(engine: Any, docs: Path, index: Path) -> tuple[float, int]:
    seconds, report = timed(lambda: engine.run([docs], index))
    return seconds, report.chunks


def steady(half: tuple[float, int], full: tuple[float, int]) -> tuple[float, float]:
    """(chunks/s once running, fixed seconds per run) from a run on half the corpus and one on all of it."""
    rate = (full[1] - half[1]) / (full[0] - half[0])
    return rate, full[0] - full[1] / rate


def generation_bytes(index: Path) -> dict[str, int]:
    """Bytes of each part of an index's live generation (chunk store, BM25, vectors)."""
    generation = index / (index / "CURRENT").read_text().strip()
    return {
        part.name: sum(p.stat().st_size for p in ([part] if part.is_file() else part.rglob("*")) if p.is_file())
        for part in sorted(generation.iterdir())
        if part.name != "manifest.json"
    }


def main() -> None:
    import ray

    from ingest.pipeline import Ingestor
    from ingest.ray_engine import RayIngestor, connect
    from rag.config import Settings

    args = parse_args()
    store = None if args.store == "faiss" else args.store
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        count = len(args.passages.read_text().splitlines()) if args.limit is None else args.limit
        docs = {
            "half": corpus(args.passages, count // 2, work, "half"),
            "full": corpus(args.passages, count, work, "full"),
        }
        local = Ingestor(Settings(index=work / "local", store=store))
        local.embedder.warm_up()
        runs = {part: timed_run(local, docs[part], work / f"local-{part}") for part in ("half", "full")}
        local_rate, local_fixed = steady(runs["half"], runs["full"])
        local_s, chunks = runs["full"]
        print(f"local: {chunks} chunks in {local_s:.1f} s", flush=True)
        sizes = generation_bytes(work / "local-full")
        start_s, _ = timed(lambda: connect(None, None))
        rows = [Row("Ray local instance start", None, start_s, "s", False, "", "ray.init, 2 CPUs")]
        notes = []
        for workers in [int(w) for w in args.workers.split(",")]:
            engine = RayIngestor(Settings(index=work / "unused", store=store, ray_workers=workers), local.embedder)
            runs = {part: timed_run(engine, docs[part], work / f"ray-{workers}-{part}") for part in ("half", "full")}
            rate, fixed = steady(runs["half"], runs["full"])
            ray_s, ray_chunks = runs["full"]
            assert ray_chunks == chunks
            print(f"ray, {workers} workers: {chunks} chunks in {ray_s:.1f} s", flush=True)
            rows += [
                Row(
                    f"chunks/s, {workers} Ray workers",
                    chunks / local_s,
                    chunks / ray_s,
                    "chunks/s",
                    True,
                    "local",
                    "ray",
                ),
                Row(f"chunks/s running, {workers} Ray workers", local_rate, rate, "chunks/s", True, "local", "ray"),
            ]
            notes.append(
                f"{workers} Ray workers: {fixed:.1f} s per job to start (actors, model load), then {rate:.1f} chunks/s"
            )
        ray.shutdown()
    notes += [
        f"{count} passages, {chunks} chunks from {args.passages.name}; store {args.store}; 'running' = the marginal "
        "rate between a run on half the corpus and one on all of it (fixed start-up costs cancel)",
        f"local engine {chunks / local_s:.1f} chunks/s end to end ({local_s:.1f} s, model loaded beforehand), "
        f"{local_rate:.1f} running ({local_fixed:.1f} s fixed)",
        "bytes per chunk in the generation directory: "
        + ", ".join(f"{name} {size / chunks:,.0f}" for name, size in sizes.items()),
    ]
    write_result("ray-ingest", rows, notes)


if __name__ == "__main__":
    main()
