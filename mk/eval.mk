# Evaluation targets (included from the Makefile). Results: items.jsonl, summary.json, report.md, report.html.
#   make eval                      the sample eval set against the sample index (runs/eval)
#   make eval JUDGE=local          also ragas faithfulness, judged by the local SmolLM2 GGUF (slow: ~1-3 min/answer)
#   make eval FAIL_UNDER=faithfulness.verifier=0.9,citation.precision=0.8   exit 1 when a metric is below
#   make eval-clapnq LIMIT=60      CLAPNQ (../shared/data/clapnq): LIMIT questions, answerable and
#                                  unanswerable alternating; LIMIT= (empty) runs all 275 (hours on 2 cores)
#   make eval-generated            after eval-clapnq LIMIT=48: how many of the generator's judged sentences (data/judged)
#                                  each scorer passes (supported or invented)
#   make eval-halueval-train       280 HaluEval QA train questions over their own knowledge, free composition
#                                  (runs/halueval-train/run, ~15 min): the raw sentences judged in data/judged and
#                                  data/verifier/product.jsonl (the verifier's product pairs); then
#                                  make eval-generated CLAPNQ_OUT=runs/halueval-train/run
#   make eval-realdocs             the real-documentation set (data/realdocs, built from the installed packages' docs):
#                                  its test split (45 questions) against its index (REALDOCS_SPLIT=dev for the dev split)
#   make eval-compositions         CLAPNQ (48) and realdocs (test) once per composition strategy (COMPOSITIONS), then
#                                  the judged figures of each run (python -m eval.judged; unjudged items are listed)
# Runs resume: rerunning after an interruption only evaluates the questions not yet done.
EVAL_SET ?= data/questions.jsonl
EVAL_OUT ?= runs/eval
JUDGE ?= none
FAIL_UNDER ?=
LIMIT ?= 60
CLAPNQ ?= $(SHARED)/clapnq
CLAPNQ_INDEX ?= indexes/clapnq
CLAPNQ_OUT ?= runs/clapnq
REALDOCS_OUT ?= runs/realdocs
REALDOCS_INDEX ?= indexes/realdocs
REALDOCS_SPLIT ?= test
COMPOSITIONS ?= extractive quote free
EVAL_FLAGS = --judge $(JUDGE) $(if $(FAIL_UNDER),--fail-under $(FAIL_UNDER))

.PHONY: eval eval-clapnq eval-generated eval-halueval-train eval-realdocs eval-compositions

eval: ingest
	$(RAG) eval --dataset $(EVAL_SET) --index $(INDEX) --out $(EVAL_OUT) $(EVAL_FLAGS)

eval-clapnq: setup
	$(RAG) ingest $(CLAPNQ)/passages.jsonl --index $(CLAPNQ_INDEX)
	$(RAG) convert clapnq $(CLAPNQ)/questions_answerable.jsonl -o $(CLAPNQ_OUT)/answerable.jsonl
	$(RAG) convert clapnq $(CLAPNQ)/questions_unanswerable.jsonl -o $(CLAPNQ_OUT)/unanswerable.jsonl
	paste -d '\n' $(CLAPNQ_OUT)/answerable.jsonl $(CLAPNQ_OUT)/unanswerable.jsonl | sed '/^$$/d' \
		> $(CLAPNQ_OUT)/questions.jsonl
	$(RAG) eval --dataset $(CLAPNQ_OUT)/questions.jsonl --index $(CLAPNQ_INDEX) --out $(CLAPNQ_OUT) \
		$(if $(LIMIT),--limit $(LIMIT)) $(EVAL_FLAGS)

eval-generated: setup
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m eval.generated_support --run $(CLAPNQ_OUT) \
		--scorer trained,heuristic

HALUEVAL_OUT ?= runs/halueval-train
HALUEVAL_LIMIT ?= 280
HALUEVAL_SKIP ?= 0
eval-halueval-train: setup
	$(BIN)/python -m eval.halueval_set $(SHARED)/halueval/qa_dev.jsonl --out $(HALUEVAL_OUT) \
		--limit $(HALUEVAL_LIMIT) --skip $(HALUEVAL_SKIP)
	$(RAG) ingest $(HALUEVAL_OUT)/corpus.jsonl --index $(HALUEVAL_OUT)/index
	RAG_COMPOSITION=free RAG_CONSTRAIN_OUTPUT=false $(RAG) eval --dataset $(HALUEVAL_OUT)/questions.jsonl \
		--index $(HALUEVAL_OUT)/index --out $(HALUEVAL_OUT)/run $(EVAL_FLAGS)

eval-realdocs: setup
	$(BIN)/python data/realdocs/build.py --out $(REALDOCS_OUT) --fetch $(REALDOCS_OUT)/site
	$(RAG) ingest $(REALDOCS_OUT)/corpus --index $(REALDOCS_INDEX) --prune
	$(RAG) eval --dataset $(REALDOCS_OUT)/$(REALDOCS_SPLIT).jsonl --index $(REALDOCS_INDEX) \
		--out $(REALDOCS_OUT)/$(REALDOCS_SPLIT)-run $(EVAL_FLAGS)

# quote runs with its grammar (constrain_output), as measured in the README
eval-compositions: setup
	for c in $(COMPOSITIONS); do \
		RAG_COMPOSITION=$$c RAG_CONSTRAIN_OUTPUT=$$([ $$c = quote ] && echo true || echo false) \
			$(MAKE) --no-print-directory eval-clapnq LIMIT=48 CLAPNQ_OUT=runs/compositions/clapnq-$$c || exit 1; \
		RAG_COMPOSITION=$$c RAG_CONSTRAIN_OUTPUT=$$([ $$c = quote ] && echo true || echo false) \
			$(MAKE) --no-print-directory eval-realdocs REALDOCS_OUT=runs/compositions/realdocs-$$c || exit 1; \
	done
	$(BIN)/python -m eval.judged $(foreach c,$(COMPOSITIONS),--run runs/compositions/clapnq-$(c) \
		--run runs/compositions/realdocs-$(c)/$(REALDOCS_SPLIT)-run)
