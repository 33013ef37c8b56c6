# Verifier targets (included from the Makefile). Needs ../shared/data (override with SHARED=...).
SHARED ?= ../shared/data
VERIFIER_OUT ?= rag/verify/model
VERIFIER_EVAL ?= runs/verifier-eval

.PHONY: train-verifier eval-verifier

# Reproduce the committed trained verifier: ~40 min on 2 CPU cores (seeded; see its MODEL_CARD.md).
train-verifier: setup
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m training.verifier \
		--out $(VERIFIER_OUT) --seed 0 --data $(SHARED)

# Trained and heuristic scorers on the held-out WiCE and HaluEval splits, one table (runs/verifier-eval/table.md).
eval-verifier: setup
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m eval.verifier_eval --benchmark $(SHARED) \
		--scorer trained,heuristic --split heldout --out $(VERIFIER_EVAL)
