"""The index: what ingest writes and retrieval reads. Generations of a SQLite chunk store, FAISS vectors and a
BM25 index, swapped in atomically (generations.py), and the embedder both sides share (embedding.py)."""
