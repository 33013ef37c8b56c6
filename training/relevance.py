"""The recipe behind rag/verify/relevance.json: the logistic model that decides whether a source sentence answers
the question (rag.verify.relevance.AnswerModel).

    python -m training.relevance --clapnq-index indexes/clapnq --clapnq runs/clapnq/questions.jsonl \
        --realdocs-index indexes/realdocs --realdocs runs/realdocs/dev.jsonl --out rag/verify/relevance.json

Training rows are the candidate sentences (top 5 passages) of
- the CLAPNQ questions outside the 48-question report set (the first 48 of the interleaved file), labelled by
  judges in data/judged/candidates.jsonl ("answers" = 1, "no" = 0, "partial" left out), and
- the realdocs dev questions, labelled 1 when the sentence is the question's gold evidence.
Only sentences that can answer (no blocking reason) are rows. The threshold is the lowest at which at most
MAX_WRONG of the tuning questions would show a wrong answer (a "no" sentence, or any answer to an unanswerable
question), so the model abstains rather than shows a wrong answer.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.datasets import EvalItem, load_items, read_jsonl
from eval.judged import LABELS, text_hash
from eval.metrics import matches

log = logging.getLogger("training.relevance")

REPORT_SET = 48
MAX_WRONG = 0.08
THRESHOLDS = [round(0.5 + 0.01 * i, 2) for i in range(50)]


def candidate_rows(index: Path, items: Sequence[EvalItem], label: Any) -> list[dict[str, Any]]:
    """Each eligible candidate sentence of each item: features and label (None: not judged)."""
    from rag.config import load_settings
    from rag.index.embedding import Embedder
    from rag.retrieval.retriever import IndexRetriever
    from rag.verify.relevance import FEATURES, AnswerCheck, AnswerModel

    settings = load_settings(index=index)
    embedder = Embedder.from_settings(settings)
    retriever = IndexRetriever(settings.index, embedder, settings)
    check = AnswerCheck(embedder.encode, AnswerModel(dict.fromkeys(FEATURES, 0.0), 0.0, 1.0))
    rows = []
    for item in items:
        vector = embedder.encode([item.question])[0]
        passages = retriever.retrieve(item.question, k=5, query_vector=vector)
        for candidate in check.candidates(item.question, vector, passages):
            if candidate.eligible:
                y = label(item, candidate.span.text)
                rows.append({"item": item.id, "answerable": item.answerable, "features": candidate.features, "y": y})
    return rows


def judged_label(judged: dict[tuple[str, str], str]) -> Any:
    def label(item: EvalItem, text: str) -> int | None:
        if not item.answerable:
            return 0
        verdict = judged.get((item.id, text_hash(text)))
        return {"answers": 1, "no": 0}.get(verdict) if verdict else None

    return label


def gold_label(item: EvalItem, text: str) -> int:
    return int(item.answerable and matches(text, item.gold_sentences))


def fit(rows: Sequence[dict[str, Any]], seed: int) -> tuple[dict[str, float], float]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from rag.verify.relevance import FEATURES

    labelled = [r for r in rows if r["y"] is not None]
    x = np.array([[r["features"][f] for f in FEATURES] for r in labelled])
    y = np.array([r["y"] for r in labelled])
    model = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed).fit(x, y)
    return {f: round(float(w), 4) for f, w in zip(FEATURES, model.coef_[0], strict=True)}, float(model.intercept_[0])


def outcomes(rows: Sequence[dict[str, Any]], model: Any, threshold: float) -> dict[str, float]:
    """What the model would show at `threshold`, per tuning question (unjudged picks count as not correct)."""
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_item[row["item"]].append(row)
    correct = wrong = answerable = 0
    for candidates in by_item.values():
        best = max(candidates, key=lambda r: model.probability(r["features"]))
        answerable += candidates[0]["answerable"]
        if model.probability(best["features"]) < threshold:
            continue
        wrong += not candidates[0]["answerable"] or best["y"] == 0
        correct += candidates[0]["answerable"] and best["y"] == 1
    return {"questions": len(by_item), "correct": correct / max(answerable, 1), "wrong": wrong / max(len(by_item), 1)}


def choose_threshold(rows: Sequence[dict[str, Any]], model: Any) -> tuple[float, dict[str, float]]:
    for threshold in THRESHOLDS:
        figures = outcomes(rows, model, threshold)
        if figures["wrong"] <= MAX_WRONG:
            return threshold, figures
    return THRESHOLDS[-1], outcomes(rows, model, THRESHOLDS[-1])


def main(argv: Sequence[str] | None = None) -> int:
    from rag.verify.relevance import AnswerModel

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clapnq-index", type=Path, required=True)
    parser.add_argument("--clapnq", type=Path, required=True, help="interleaved CLAPNQ eval set (make eval-clapnq)")
    parser.add_argument("--realdocs-index", type=Path, required=True)
    parser.add_argument("--realdocs", type=Path, required=True, help="realdocs dev split (data/realdocs/build.py)")
    parser.add_argument("--out", type=Path, default=Path("rag/verify/relevance.json"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    judged = {(r["item"], r["sha"]): r["verdict"] for r in read_jsonl(LABELS / "candidates.jsonl")}
    tuning = load_items(args.clapnq)[REPORT_SET:]
    rows = candidate_rows(args.clapnq_index, tuning, judged_label(judged))
    rows += candidate_rows(args.realdocs_index, load_items(args.realdocs), gold_label)
    weights, bias = fit(rows, args.seed)
    threshold, figures = choose_threshold(rows, AnswerModel(weights, bias, 0.5))
    log.info("fitted on %d rows; threshold %.2f: %s", len(rows), threshold, figures)
    result = {
        "weights": weights,
        "bias": round(bias, 4),
        "threshold": threshold,
        "fitted": {"rows": len(rows), "max_wrong": MAX_WRONG, "tuning": figures, "seed": args.seed},
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
