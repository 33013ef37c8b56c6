"""The ingest's work besides embedding, per chunk: what the driver of a Ray ingest does alone, at scale.

    python bench/write_path.py [--documents 50000] [--stores faiss,milvus]

The local engine with the model-free hashing embedder (rag.fakes) on synthetic one-chunk documents of about
150 words: loading, chunking, the chunk store, the vector store, BM25 and the atomic commit, with embedding
reduced to hashing. Then one more document is ingested, which copies the whole generation (the chunk store
through SQLite's backup, BM25 rebuilt from every chunk): the cost of a small update at this size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import Row, write_result

WORDS = 150


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=50_000)
    parser.add_argument("--stores", default="faiss,milvus")
    return parser.parse_args()


def write_corpus(folder: Path, count: int) -> Path:
    """`count` documents of WORDS words from a 20,000-word vocabulary, one JSONL file."""
    rng = np.random.default_rng(0)
    vocabulary = np.array([f"w{n}" for n in range(20_000)])
    path = folder / "docs" / "corpus.jsonl"
    path.parent.mkdir()
    with path.open("w") as out:
        for n in range(count):
            text = " ".join(vocabulary[rng.zipf(1.2, WORDS) % len(vocabulary)])
            out.write(f'{{"id": "d{n}", "text": "{text}."}}\n')
    return path.parent


def main() -> None:
    from transformers import AutoTokenizer

    from ingest.pipeline import Ingestor
    from rag.config import Settings
    from rag.fakes import HashingEmbedder
    from rag.index.milvus import close_clients
    from rag.models import resolve_model

    args = parse_args()
    embedder = HashingEmbedder(AutoTokenizer.from_pretrained(resolve_model("embedder", "all-MiniLM-L6-v2")))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        docs = write_corpus(work, args.documents)
        for store in args.stores.split(","):
            uri = "faiss" if store == "faiss" else f"milvus-lite://{work / 'milvus.db'}"
            settings = Settings(index=work / store, store=uri)
            started = time.perf_counter()
            report = Ingestor(settings, embedder=embedder).run([docs], settings.index)
            first_s = time.perf_counter() - started
            (docs / "one-more.txt").write_text("One more document.")
            started = time.perf_counter()
            Ingestor(settings, embedder=embedder).run([docs], settings.index)
            update_s = time.perf_counter() - started
            (docs / "one-more.txt").unlink()
            print(f"{store}: {report.chunks} chunks in {first_s:.1f} s, one more in {update_s:.1f} s", flush=True)
            rows += [
                Row(f"ingest without embedding, {store}", None, report.chunks / first_s, "chunks/s", True, "", store),
                Row(f"update of 1 document at {report.chunks:,} chunks, {store}", None, update_s, "s", False, "", ""),
            ]
            close_clients()
    write_result("write-path", rows, [f"{args.documents:,} synthetic documents of {WORDS} words, hashing embedder"])


if __name__ == "__main__":
    main()
