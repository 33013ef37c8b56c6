"""Retrieval: dense (FAISS), lexical (BM25) and hybrid search over an index, plus optional reranking."""
