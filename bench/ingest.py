"""Ingest benchmark on the CLAPNQ passages: chunks/second, retrieval quality and query latency per backend.

    python bench/ingest.py [--repeat 2] [--backends torch,onnx,onnx-int8] [--limit N]

Baseline: plain `SentenceTransformer.encode` (batch 32, torch) of every passage plus a FAISS flat index, the
setup the issue measured at 16-18 chunks/s. Ours: the whole `Ingestor.run` (load, chunk, embed, SQLite,
BM25, FAISS, atomic commit) with each embedder backend, interleaved with the baseline in the same run.
Chunks are up to 254 tokens (the model's limit), so most passages are one chunk, as in the baseline.

Quality: recall@5 and MRR of the hybrid retriever on the answerable CLAPNQ questions (gold doc id = pid),
each backend's index against the torch one ("before"). Latency: top-5 query, the baseline's encode + flat
search against our hybrid `Retriever.retrieve`, one query at a time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import (
    QUESTIONS,
    SHARED,
    Row,
    answerable,
    latencies_ms,
    passage_records,
    percentile,
    quality,
    timed,
    write_result,
)

BASELINE_BATCH = 32
CHUNK_TOKENS = 254
K = 5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=Path, default=SHARED / "clapnq" / "passages.jsonl")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds; the median is reported")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--limit", type=int, default=None, help="use the first N passages only")
    parser.add_argument("--queries", type=int, default=60, help="questions timed for query latency")
    return parser.parse_args()


def corpus_file(passages: Path, limit: int | None, work: Path) -> Path:
    """The passages (or the first `limit`) as one JSONL file in `work`."""
    target = work / "passages.jsonl"
    with passages.open() as source, target.open("w") as out:
        for number, line in enumerate(source):
            if limit is not None and number >= limit:
                break
            out.write(line)
    return target


class Baseline:
    """SentenceTransformer.encode (batch 32) + IndexFlatIP: the plain setup the issue compares with."""

    def __init__(self) -> None:
        from sentence_transformers import SentenceTransformer

        from rag.models import resolve_model

        self.model = SentenceTransformer(resolve_model("embedder", "all-MiniLM-L6-v2"), device="cpu")
        self.index: Any = None
        self.pids: list[str] = []

    def ingest(self, texts: Sequence[str], pids: Sequence[str]) -> int:
        import faiss

        vectors = self.model.encode(list(texts), batch_size=BASELINE_BATCH, normalize_embeddings=True)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)
        self.pids = list(pids)
        return len(texts)

    def search(self, question: str) -> list[str]:
        query = self.model.encode([question], normalize_embeddings=True)
        _, found = self.index.search(query, K)
        return [self.pids[i] for i in found[0] if i >= 0]


class Ours:
    """The project's Ingestor and hybrid Retriever with one embedder backend."""

    def __init__(self, backend: str, work: Path, prefetch: bool = False) -> None:
        from rag.config import Settings
        from rag.index.embedding import Embedder

        self.backend = backend
        self.prefetch = prefetch
        self.directory = work / f"index-{backend}{'-prefetch' if prefetch else ''}"
        self.settings = Settings(index=self.directory, embedder_backend=backend, chunk_size=CHUNK_TOKENS)
        self.embedder = Embedder.from_settings(self.settings)
        self.export_seconds, _ = timed(lambda: self.embedder.model)  # load, and export on first use
        self.retriever: Any = None

    def ingest(self, corpus: Path) -> int:
        from ingest.pipeline import Ingestor

        ingestor = Ingestor(self.settings, embedder=self.embedder, prefetch=self.prefetch)
        report = ingestor.run([corpus], self.directory, rebuild=True)
        self.retriever = None
        return report.chunks

    def search(self, question: str) -> list[str]:
        if self.retriever is None:
            from rag.retrieval.retriever import IndexRetriever

            self.retriever = IndexRetriever(self.directory, self.embedder, self.settings)
        return [p.chunk.doc_id for p in self.retriever.retrieve(question, k=K)]


def ingest_rounds(baseline: Baseline, ours: dict[str, Ours], corpus: Path, repeat: int) -> dict[str, list[float]]:
    """Chunks/second of every system, measured in interleaved rounds."""
    texts, pids = passage_records(corpus)
    rates: dict[str, list[float]] = {"baseline": [], **{name: [] for name in ours}}
    for round_number in range(repeat):
        seconds, count = timed(lambda: baseline.ingest(texts, pids))
        rates["baseline"].append(count / seconds)
        for name, system in ours.items():
            seconds, count = timed(lambda system=system: system.ingest(corpus))
            rates[name].append(count / seconds)
        print(f"round {round_number + 1}: " + ", ".join(f"{n} {r[-1]:.1f}/s" for n, r in rates.items()), flush=True)
    return rates


def query_latency(baseline: Baseline, system: Ours, items: Sequence[Any]) -> tuple[list[float], list[float]]:
    """Per-question milliseconds of the baseline and of ours, interleaved question by question."""
    ours_ms: list[float] = []
    base_ms: list[float] = []
    for item in items:
        base_ms += latencies_ms(baseline.search, [item.question])
        ours_ms += latencies_ms(system.search, [item.question])
    return base_ms, ours_ms


def main() -> None:
    from rag.config import Settings

    default_backend = Settings().embedder_backend
    args = parse_args()
    if not args.passages.exists():
        raise SystemExit(f"needs {args.passages} (the ../shared data beside the checkout)")
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        corpus = corpus_file(args.passages, args.limit, work)
        items = answerable(args.questions, args.passages)
        baseline = Baseline()
        ours = {name: Ours(name, work) for name in args.backends.split(",")}
        if default_backend in ours:  # the chunking prefetch thread on, to show what it adds
            ours[f"{default_backend} + prefetch"] = Ours(default_backend, work, prefetch=True)
        started = time.perf_counter()
        rates = ingest_rounds(baseline, ours, corpus, args.repeat)
        print(f"ingest rounds took {time.perf_counter() - started:.0f} s", flush=True)
        scores = {"baseline": quality(baseline.search, items)}
        scores |= {name: quality(system.search, items) for name, system in ours.items() if not system.prefetch}
        default = default_backend if default_backend in ours else next(iter(ours))
        latency = query_latency(baseline, ours[default], items[: args.queries])
        rows, notes = report(rates, scores, latency, ours, default, len(items))
        write_result("ingest", rows, notes, {"rates": rates, "quality": scores})
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(
    rates: dict[str, list[float]],
    scores: dict[str, tuple[float, float]],
    latency: tuple[list[float], list[float]],
    ours: dict[str, Ours],
    default: str,
    questions: int,
) -> tuple[list[Row], list[str]]:
    base_rate = statistics.median(rates["baseline"])
    reference = "torch" if "torch" in scores else "baseline"
    rows = [
        Row(f"ingest chunks/s [{n}]", base_rate, statistics.median(rates[n]), "chunks/s", True, "ST encode+flat", n)
        for n in ours
    ]
    for name in [n for n in scores if n != "baseline"]:
        rows.append(Row(f"recall@5 [{name}]", scores[reference][0], scores[name][0], "", True, reference, name))
        rows.append(Row(f"MRR [{name}]", scores[reference][1], scores[name][1], "", True, reference, name))
    rows.append(Row("recall@5 dense-only baseline vs ours", scores["baseline"][0], scores[default][0], "", True))
    base_ms, ours_ms = latency
    for q in (50, 95):
        rows.append(
            Row(
                f"top-5 query p{q}",
                percentile(base_ms, q),
                percentile(ours_ms, q),
                "ms",
                False,
                "ST encode+flat",
                f"hybrid, {default}",
            )
        )
    notes = [
        f"{questions} answerable CLAPNQ questions; chunks up to {CHUNK_TOKENS} tokens; medians of "
        f"{len(rates['baseline'])} interleaved rounds",
        "ours times the whole Ingestor.run (load, chunk, embed, SQLite, BM25, FAISS, commit); the baseline only "
        "encodes and adds to a flat index, and truncates passages past 256 tokens where we chunk them",
        "one-time ONNX export + load: "
        + ", ".join(f"{n} {s.export_seconds:.0f} s" for n, s in ours.items())
        + " (cached in ~/.cache/grounded-rag)",
    ]
    return rows, notes


if __name__ == "__main__":
    main()
