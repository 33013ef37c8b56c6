# Benchmarks (included from the Makefile). Each prints a table with the baseline beside our figure and the ratio;
# none asserts anything about time. Needs ../shared/data for the CLAPNQ corpus (override with RAG_SHARED_DATA).
BENCH_PY := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python
SCALE_N ?= 1000000

.PHONY: bench-ingest bench-ask bench-scale bench-ray-ingest bench-lexical bench-verifier bench-peers

# Every benchmark (scale at 100k), gathered into bench/results.json and bench/results.md.
bench: setup ingest
	$(BENCH_PY) bench/run_all.py

# Chunks/s on the 597 CLAPNQ passages per embedder backend vs plain encode + FAISS flat; recall@5, MRR.
bench-ingest: setup
	$(BENCH_PY) bench/ingest.py

# End-to-end ask latency with the default models, and CLI start-up time.
bench-ask: setup ingest
	$(BENCH_PY) bench/ask.py --index $(INDEX)

# The vector stores at SCALE_N synthetic chunks, FAISS IVF and Milvus Lite beside exact search (default 1M:
# about 15 minutes on 2 cores, about 9 GB of memory), then Ray ingest throughput with 1 and 2 workers against
# the local engine on the CLAPNQ passages.
bench-scale: setup
	$(BENCH_PY) bench/scale.py --n $(SCALE_N)
	$(BENCH_PY) bench/ray_ingest.py

# Ray ingest throughput alone.
bench-ray-ingest: setup
	$(BENCH_PY) bench/ray_ingest.py

# Lexical retrieval on CLAPNQ: the bm25s index against Milvus's BM25 full-text search (recall@5, MRR, p50).
bench-lexical: setup
	$(BENCH_PY) bench/lexical.py

# Support-scorer pairs/s: the trained cross-encoder batched vs one pair a call, and the heuristic scorer.
bench-verifier: setup
	$(BENCH_PY) bench/verifier.py

# LlamaIndex, Haystack and plain encode + FAISS (../shared/peers, their venvs made once under
# ~/.cache/grounded-rag/peers) beside our ingest and retrieval, interleaved rounds: bench/out/peers.json.
PEERS_REPS ?= 2
PEERS_CORPORA ?= clapnq
bench-peers: setup
	$(BENCH_PY) bench/peers.py --reps $(PEERS_REPS) --corpora $(PEERS_CORPORA)
