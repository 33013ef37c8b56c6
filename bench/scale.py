"""Scale benchmark: the vector index at 100k-1M chunks with synthetic clustered 384-d normalised vectors.

    python bench/scale.py --n 1000000                  # the policy's own choice (IVF-SQ8 past 100k)
    python bench/scale.py --n 100000 --flat-max 50000  # a quicker run that still exercises IVF

Baseline: exact IndexIDMap2(IndexFlatIP). Ours: ingest.vectors.FaissIndex, which picks the index type by size
at save. Reported: build time, bytes per chunk (serialised index), single-query p50/p95 at k=10, recall@10 of
ours against the exact result, and removal of 1,000 ids. Vectors are drawn around random topic centres (each
point's cosine to its centre is about 0.7), which resembles sentence embeddings; uniformly random vectors have no
neighbourhood structure and would be a meaningless worst case for any approximate index.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from common import Row, latencies_ms, percentile, timed, write_result

K = 10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="chunks in the index")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--flat-max", type=int, default=None, help="override FLAT_MAX_VECTORS for this run")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def clustered(count: int, dim: int, centres: np.ndarray, rng: np.random.Generator, block: int = 100_000) -> np.ndarray:
    """Normalised float32 points around `centres`, generated in blocks to bound memory."""
    out = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, block):
        size = min(block, count - start)
        noise = rng.standard_normal((size, dim), dtype=np.float32)
        points = centres[rng.integers(0, len(centres), size)] + noise
        out[start : start + size] = points / np.linalg.norm(points, axis=1, keepdims=True)
    return out


def data(n: int, dim: int, queries: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, vectors, queries); centre norm = noise norm, so cos(point, centre) ~ 0.7."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(100, n // 1000), dim), dtype=np.float32)
    ids = rng.choice(2**62, size=n, replace=False).astype(np.int64)
    return ids, clustered(n, dim, centres, rng), clustered(queries, dim, centres, rng)


def serialized_bytes(index: Any) -> int:
    import faiss

    return int(faiss.serialize_index(index).nbytes)


def search_ms(index: Any, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Per-query milliseconds, one query at a time, and the ids found."""
    found: list[np.ndarray] = []
    ms = latencies_ms(lambda q: found.append(index.search(q[None, :], K)[1][0]), queries)
    return ms, np.stack(found)


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact, strict=True)]))


def measure_flat(ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    """The exact baseline: build seconds, per-query ms, exact ids found, serialised bytes."""
    import faiss

    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    build_s, _ = timed(lambda: flat.add_with_ids(vectors, ids))
    ms, found = search_ms(flat, queries)
    return {"build_s": build_s, "ms": ms, "found": found, "bytes": serialized_bytes(flat)}


def measure_ours(ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, flat_max: int) -> dict[str, Any]:
    """FaissIndex as ingest uses it: add, save (which picks the type), load, search, remove."""
    from rag.index.vectors import FaissIndex

    ours = FaissIndex(vectors.shape[1], flat_max=flat_max)
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "vectors.faiss"
        build_s, _ = timed(lambda: (ours.add(ids, vectors), ours.save(path)))
        size = path.stat().st_size
        ours = FaissIndex.load(path, flat_max=flat_max)
    print(f"built {ours.kind} in {build_s:.0f} s", flush=True)
    ms, found = search_ms(ours, queries)
    remove_s, _ = timed(lambda: ours.remove(ids[:1000]))
    _, after = search_ms(ours, queries[:20])
    removed = not set(after.ravel()) & set(ids[:1000]) and len(ours) == len(ids) - 1000
    kind = ours.kind if ours.kind == "flat" else f"IVF{ours.index.nlist},SQ8 nprobe={ours.index.nprobe}"
    return {
        "build_s": build_s,
        "ms": ms,
        "found": found,
        "bytes": size,
        "remove_s": remove_s,
        "removed": removed,
        "kind": kind,
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    from rag.index.vectors import FLAT_MAX_VECTORS

    args = parse_args()
    flat_max = args.flat_max if args.flat_max is not None else FLAT_MAX_VECTORS
    generate_s, (ids, vectors, queries) = timed(lambda: data(args.n, args.dim, args.queries, args.seed))
    print(f"generated {args.n:,} vectors in {generate_s:.0f} s", flush=True)
    flat = measure_flat(ids, vectors, queries)
    ours = measure_ours(ids, vectors, queries, flat_max)
    kind, n = ours["kind"], args.n
    rows = [
        Row("build (add + save)", flat["build_s"], ours["build_s"], "s", False, "flat", kind),
        Row("memory per chunk", flat["bytes"] / n, ours["bytes"] / n, "bytes", False, "flat", kind),
        Row("query p50 (k=10)", percentile(flat["ms"], 50), percentile(ours["ms"], 50), "ms", False, "flat", kind),
        Row("query p95 (k=10)", percentile(flat["ms"], 95), percentile(ours["ms"], 95), "ms", False, "flat", kind),
        Row("recall@10 vs flat", 1.0, recall(ours["found"], flat["found"]), "", True, "flat", kind),
        Row("remove 1,000 ids", None, ours["remove_s"] * 1000, "ms", False, "", kind),
    ]
    notes = [
        f"n={n:,} dim={args.dim} queries={args.queries}, one at a time; flat_max={flat_max:,}; "
        f"vectors generated in {generate_s:.0f} s",
        f"removal works: {ours['removed']}; peak RSS {peak_rss_mb():,.0f} MB "
        "(data, the exact baseline and ours together)",
    ]
    write_result(f"scale-{n // 1000}k", rows, notes)


if __name__ == "__main__":
    main()
