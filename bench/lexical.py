"""Lexical retrieval for the Milvus store: the project's bm25s index against Milvus's own full-text search.

    python bench/lexical.py

The CLAPNQ passages chunked by the local engine (the hashing embedder: only the chunks matter here), then the
same chunk texts (title and text, as the BM25 index gets them) searched two ways: the generation's bm25s index
(English stop words, Snowball stemmer) and a Milvus Lite collection with a BM25 function over an analysed text
field (standard tokenizer, lowercase, English stop words, English stemmer). Reported: recall@5 and MRR on the
answerable CLAPNQ questions, and single-query p50. The store keeps bm25s unless Milvus measures better.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from common import QUESTIONS, SHARED, Row, answerable, latencies_ms, percentile, quality, write_result

K = 5
ANALYZER = {
    "tokenizer": "standard",
    "filter": ["lowercase", {"type": "stop", "stop_words": ["_english_"]}, {"type": "stemmer", "language": "english"}],
}


def milvus_collection(client: Any, rows: list[tuple[int, str]]) -> str:
    """A collection of the chunk texts with a BM25 function and its sparse inverted index."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema()
    schema.add_field("chunk_id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=65_535, enable_analyzer=True, analyzer_params=ANALYZER)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]
        )
    )
    index = client.prepare_index_params()
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("lexical", schema=schema, index_params=index)
    for start in range(0, len(rows), 1_000):
        client.insert("lexical", [{"chunk_id": i, "text": t} for i, t in rows[start : start + 1_000]])
    client.flush("lexical")
    return "lexical"


def main() -> None:
    from transformers import AutoTokenizer

    from ingest.pipeline import Ingestor
    from rag.config import Settings
    from rag.fakes import HashingEmbedder
    from rag.index.generations import Index
    from rag.index.milvus import client_for, close_clients
    from rag.models import resolve_model

    passages = SHARED / "clapnq" / "passages.jsonl"
    items = answerable(QUESTIONS, passages)
    embedder = HashingEmbedder(AutoTokenizer.from_pretrained(resolve_model("embedder", "all-MiniLM-L6-v2")))
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "docs").mkdir()
        (work / "docs" / "passages.jsonl").write_text(passages.read_text())
        Ingestor(Settings(index=work / "index"), embedder=embedder).run([work / "docs"], work / "index")
        index = Index.open(work / "index")
        doc_of = dict(index.store.db.execute("SELECT chunk_id, doc_id FROM chunks").fetchall())
        client = client_for(f"milvus-lite://{work / 'milvus.db'}")
        collection = milvus_collection(client, list(index.store.iter_texts()))

        def bm25s(question: str) -> list[str]:
            return [doc_of[i] for i, _ in index.bm25.search(question, K)]

        def milvus(question: str) -> list[str]:
            hits = client.search(
                collection, data=[question], anns_field="sparse", limit=K, search_params={"metric_type": "BM25"}
            )
            return [doc_of[int(hit["chunk_id"])] for hit in hits[0]]

        scores = {"bm25s": quality(bm25s, items, K), "milvus": quality(milvus, items, K)}
        questions = [item.question for item in items]
        ms = {"bm25s": latencies_ms(bm25s, questions), "milvus": latencies_ms(milvus, questions)}
        close_clients()
    rows = [
        Row("recall@5", scores["milvus"][0], scores["bm25s"][0], "", True, "Milvus BM25", "bm25s"),
        Row("MRR", scores["milvus"][1], scores["bm25s"][1], "", True, "Milvus BM25", "bm25s"),
        Row(
            "query p50", percentile(ms["milvus"], 50), percentile(ms["bm25s"], 50), "ms", False, "Milvus BM25", "bm25s"
        ),
    ]
    write_result("lexical", rows, [f"{len(doc_of)} chunks of {passages.name}, {len(items)} answerable questions"])


if __name__ == "__main__":
    main()
