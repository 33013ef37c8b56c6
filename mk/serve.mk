# HTTP service targets (included from the Makefile).
HOST ?= 127.0.0.1
PORT ?= 8000
BENCH_SERVE_ARGS ?=

.PHONY: serve bench-serve bench-serve-fake browser-deps

# The web page and API on http://$(HOST):$(PORT)/ (OpenAPI docs at /docs) over the sample index.
serve: ingest
	$(RAG) serve --index $(INDEX) --host $(HOST) --port $(PORT)

# Requests/second and p50/p95 latency of /search and /ask at 1, 4 and 16 clients: bench/out/serve.json.
bench-serve: ingest
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python bench/serve_load.py --index $(INDEX) $(BENCH_SERVE_ARGS)

# The same with the model-free fake pipeline: a quick check of the service itself.
bench-serve-fake: setup
	$(BIN)/python bench/serve_load.py --fake $(BENCH_SERVE_ARGS)

# Debian's Chromium and chromedriver for tests/test_serve_browser.py (skipped when absent). When missing,
# mk/browser-deps.sh says what it installs first, adds no recommended packages and upgrades nothing already
# installed (it installs nothing then). BROWSER_DEPS=skip never touches apt: make test BROWSER_DEPS=skip.
BROWSER_DEPS ?= install
BROWSER_PACKAGES := chromium chromium-driver

browser-deps:
	@bash mk/browser-deps.sh $(BROWSER_DEPS) $(BROWSER_PACKAGES)
