"""Scale benchmark: the vector stores at 100k-1M chunks with synthetic clustered 384-d normalised vectors.

    python bench/scale.py --n 1000000                  # FAISS (IVF-SQ8 past 100k) and Milvus Lite
    python bench/scale.py --n 100000 --flat-max 50000  # a quicker run that still exercises IVF
    python bench/scale.py --n 1000000 --stores faiss   # FAISS only

Baseline: exact IndexIDMap2(IndexFlatIP). Ours: rag.index.vectors.FaissIndex, which picks the index type by
size at save, and rag.index.milvus.MilvusIndex in a Milvus Lite file (IVF_SQ8, written as ingest writes it:
upserts of rows with their filter fields, then a flush and the index build). Reported: build time, bytes per
chunk (FAISS: the serialised index; Milvus Lite: its database on disk, and the process's resident memory growth
once loaded), single-query p50/p95 at k=10, recall@10 against the exact result, and removal of 1,000 ids.
Vectors are drawn around random topic centres (each point's cosine to its centre is about 0.7), which resembles
sentence embeddings; uniformly random vectors have no neighbourhood structure and would be a meaningless worst
case for any approximate index.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
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
    parser.add_argument("--stores", default="faiss,milvus", help="comma-separated: faiss, milvus")
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


def rss_bytes() -> int:
    """This process's resident memory now (Milvus Lite runs inside it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def wait_for_index(client: Any, collection: str) -> None:
    """Until Milvus has built the vector index over every sealed row."""
    while client.describe_index(collection, "vector").get("pending_index_rows", 0):
        time.sleep(0.5)


def measure_milvus(ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    """MilvusIndex in a Milvus Lite file as ingest writes it: upsert in batches, flush, index; then search the
    live generation (the visibility filter included, as every real query has it) and remove."""
    from rag.index.milvus import INDEX_TYPE, NLIST, NPROBE, MilvusStore, close_clients
    from rag.index.stores import Described

    class Manifest:  # what the store reads of a manifest
        dimension, generation, store, collection = vectors.shape[1], 1, "", ""

    fields = {"path": "bench/doc.txt", "file_type": "txt", "page": None, "ingested_at": 0.0}
    with tempfile.TemporaryDirectory() as work:
        store = MilvusStore(f"milvus-lite://{work}/index.db")
        manifest: Described = Manifest()
        before = rss_bytes()
        ours = store.writer(Path(work) / "index", None, None, manifest, lambda chunk_ids: [fields] * len(chunk_ids))
        started = time.perf_counter()
        for start in range(0, len(ids), 100_000):
            ours.add(ids[start : start + 100_000], vectors[start : start + 100_000])
        ours.save(Path(work))
        wait_for_index(ours.client, ours.collection)
        build_s = time.perf_counter() - started
        print(f"built Milvus Lite {INDEX_TYPE} in {build_s:.0f} s", flush=True)
        ours.client.release_collection(ours.collection)
        ours.client.load_collection(ours.collection)
        memory = rss_bytes() - before
        disk = directory_bytes(Path(work) / "index.db")
        ms, found = search_ms(ours, queries)
        remove_s, _ = timed(lambda: ours.remove(ids[:1000]))
        _, after = search_ms(ours, queries[:20])
        removed = not set(after.ravel()) & set(ids[:1000].tolist())
        close_clients()
    return {
        "build_s": build_s,
        "ms": ms,
        "found": found,
        "bytes": disk,
        "memory": memory,
        "remove_s": remove_s,
        "removed": removed,
        "kind": f"Milvus Lite {INDEX_TYPE} nlist={NLIST} nprobe={NPROBE}",
    }


def main() -> None:
    from rag.index.vectors import FLAT_MAX_VECTORS

    args = parse_args()
    stores = set(args.stores.split(","))
    flat_max = args.flat_max if args.flat_max is not None else FLAT_MAX_VECTORS
    generate_s, (ids, vectors, queries) = timed(lambda: data(args.n, args.dim, args.queries, args.seed))
    print(f"generated {args.n:,} vectors in {generate_s:.0f} s", flush=True)
    flat = measure_flat(ids, vectors, queries)
    n = args.n
    rows: list[Row] = []
    notes = [
        f"n={n:,} dim={args.dim} queries={args.queries}, one at a time; flat_max={flat_max:,}; "
        f"vectors generated in {generate_s:.0f} s",
    ]
    measured = []
    if "faiss" in stores:
        measured.append(measure_ours(ids, vectors, queries, flat_max))
    if "milvus" in stores:
        measured.append(measure_milvus(ids, vectors, queries))
    for ours in measured:
        kind = ours["kind"]
        rows += [
            Row("build (add + save)", flat["build_s"], ours["build_s"], "s", False, "flat", kind),
            Row("bytes per chunk (disk)", flat["bytes"] / n, ours["bytes"] / n, "bytes", False, "flat", kind),
            Row("query p50 (k=10)", percentile(flat["ms"], 50), percentile(ours["ms"], 50), "ms", False, "flat", kind),
            Row("query p95 (k=10)", percentile(flat["ms"], 95), percentile(ours["ms"], 95), "ms", False, "flat", kind),
            Row("recall@10 vs flat", 1.0, recall(ours["found"], flat["found"]), "", True, "flat", kind),
            Row("remove 1,000 ids", None, ours["remove_s"] * 1000, "ms", False, "", kind),
        ]
        if "memory" in ours:
            rows.append(Row("resident memory per chunk", None, ours["memory"] / n, "bytes", False, "", kind))
        notes.append(f"{kind}: removal works: {ours['removed']}")
    notes.append(f"peak RSS {peak_rss_mb():,.0f} MB (data, the exact baseline and ours together)")
    write_result(f"scale-{n // 1000}k", rows, notes)


if __name__ == "__main__":
    main()
