"""Calibration and export of a trained verifier: its dev scores, the combination with the alignment features
chosen by cross-validation, the Platt fit and threshold, and the fp16 export beside calibration.json. Also the
heuristic scorer's weights (stage `heuristic`)."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from eval.pairs import LabeledPair, load_pairs
from eval.synthetic import synthetic_pairs
from eval.verifier_eval import metrics
from rag.verify.heuristic import FEATURES, LEXICAL_FEATURES, LOCAL_FEATURES

log = logging.getLogger("training.verifier")


DevScores = dict[str, tuple[list[int], list[float]]]
# combiners compared on dev by cross-validation: which inputs the calibrated logistic model sees
# name -> (cross-encoder log-odds, which heuristic features: "features" all five, "lexical" the model-free ones,
# "local" the model-free ones with coverage read in the best premise window),
# cheapest to run first (the "features" set embeds up to 8 premise sentences per pair with the embedder)
VARIANTS: dict[str, tuple[bool, str | None]] = {
    "cross_encoder": (True, None),
    "cross_encoder+lexical": (True, "lexical"),
    "cross_encoder+local": (True, "local"),
    "features": (False, "features"),
    "cross_encoder+features": (True, "features"),
}
# a costlier variant is chosen only when it beats every cheaper one by more than this mean dev balanced accuracy
# (about one WiCE dev claim); smaller differences are noise on 105 claims
GOOD_ENOUGH = 0.01
FEATURE_SETS = {"features": FEATURES, "lexical": LEXICAL_FEATURES, "local": LOCAL_FEATURES}


def dev_splits(data: Path, synthetic: bool = False) -> dict[str, list[LabeledPair]]:
    """The dev splits that calibration and thresholds are fitted on (never the held-out ones); with
    `synthetic`, the project's own claims of the synthetic dev passages too."""
    splits = {
        "wice": load_pairs(data / "wice/claims_dev.jsonl", "wice", "dev"),
        "halueval": load_pairs(data / "halueval/qa_dev.jsonl", "halueval", "dev"),
    }
    if synthetic:
        splits["synthetic"] = synthetic_pairs(data, "dev")
    return splits


def dev_inputs(checkpoint: Path, data: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Per dev set: labels, raw cross-encoder log-odds (production code path) and heuristic features."""
    from rag.verify.heuristic import HeuristicScorer
    from rag.verify.trained import Calibration, CrossEncoderVerifier

    settings = Calibration(**{k: v for k, v in inference_settings(args).items() if k != "seed"})
    verifier = CrossEncoderVerifier(checkpoint, args.threads, settings)
    heuristic = HeuristicScorer(threads=args.threads)
    result = {}
    for name, pairs in dev_splits(data, args.synthetic_repeat > 0).items():
        started = time.perf_counter()
        texts = [(p.premise, p.claim) for p in pairs]
        margins = verifier.margins(texts)
        features = [[f[n] for n in FEATURES] for f in heuristic.feature_batch(texts, settings.window_words)]
        model_free = heuristic.lexical_feature_batch(texts, settings.window_words)
        log.info("dev %s: %d pairs in %.0f s", name, len(pairs), time.perf_counter() - started)
        result[name] = {"labels": [p.label for p in pairs], "margins": margins, "features": features}
        result[name] |= {key: [[f[n] for n in FEATURE_SETS[key]] for f in model_free] for key in ("lexical", "local")}
    return result


def design(inputs: dict[str, Any], variant: str) -> tuple[Any, Any, Any, list[str]]:
    """X, y, sample weights (each dev set weighs the same) and dataset name per row, for one variant."""
    import numpy as np

    use_margin, feature_set = VARIANTS[variant]
    rows, labels, weights, owners = [], [], [], []
    for name, part in inputs.items():
        feature_rows = part[feature_set] if feature_set else [[] for _ in part["labels"]]
        for margin, features, label in zip(part["margins"], feature_rows, part["labels"], strict=True):
            rows.append(([margin] if use_margin else []) + features)
            labels.append(label)
            weights.append(1.0 / len(part["labels"]))
            owners.append(name)
    weight = np.asarray(weights)
    return np.asarray(rows, dtype=float), np.asarray(labels), weight * len(weight) / weight.sum(), owners


def by_dataset(owners: list[str], labels: Any, probs: Any) -> DevScores:
    grouped: DevScores = {}
    for owner, label, prob in zip(owners, labels, probs, strict=True):
        grouped.setdefault(owner, ([], []))
        grouped[owner][0].append(int(label))
        grouped[owner][1].append(float(prob))
    return grouped


def cross_validated(inputs: dict[str, Any], variant: str, seed: int) -> dict[str, Any]:
    """5-fold out-of-fold probabilities of one variant, scored per dev set at the best OOF threshold."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    x, y, weight, owners = design(inputs, variant)
    strata = np.asarray([f"{o}-{label}" for o, label in zip(owners, y, strict=True)])
    probs = np.zeros(len(y))
    for train_rows, test_rows in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, strata):
        model = LogisticRegression(C=1.0, max_iter=2000)
        model.fit(x[train_rows], y[train_rows], sample_weight=weight[train_rows])
        probs[test_rows] = model.predict_proba(x[test_rows])[:, 1]
    grouped = by_dataset(owners, y, probs)
    threshold = best_threshold(grouped)
    scores = {name: metrics(labels, p, threshold) for name, (labels, p) in grouped.items()}
    quality = sum(m["balanced_accuracy"] for m in scores.values()) / len(scores)
    return {"mean_balanced_accuracy": quality, "datasets": scores}


def cheapest_good_enough(comparison: dict[str, dict[str, Any]]) -> str:
    """The first variant (cheapest first) within GOOD_ENOUGH of the best mean dev balanced accuracy."""
    best = max(result["mean_balanced_accuracy"] for result in comparison.values())
    return next(v for v in VARIANTS if comparison[v]["mean_balanced_accuracy"] >= best - GOOD_ENOUGH)


def fit_calibration(inputs: dict[str, Any], variant: str) -> dict[str, Any]:
    """Logistic calibration of the chosen variant on all dev data, then the best mean-balanced-accuracy threshold."""
    from sklearn.linear_model import LogisticRegression

    x, y, weight, owners = design(inputs, variant)
    model = LogisticRegression(C=1.0, max_iter=2000).fit(x, y, sample_weight=weight)
    coef = [float(c) for c in model.coef_[0]]
    use_margin, feature_set = VARIANTS[variant]
    slope = coef.pop(0) if use_margin else 0.0
    feature_weights = dict(zip(FEATURE_SETS[feature_set], coef, strict=True)) if feature_set else {}
    threshold = best_threshold(by_dataset(owners, y, model.predict_proba(x)[:, 1]))
    return {
        "variant": variant,
        "platt_slope": slope,
        "platt_intercept": float(model.intercept_[0]),
        "feature_weights": feature_weights,
        "threshold": threshold,
    }


def best_threshold(dev: DevScores) -> float:
    """The candidate threshold with the best mean balanced accuracy over the dev sets."""
    candidates = sorted({round(s, 3) for _, scores in dev.values() for s in scores} | {0.5})

    def quality(threshold: float) -> float:
        return sum(metrics(y, s, threshold)["balanced_accuracy"] for y, s in dev.values()) / len(dev)

    return max(candidates, key=lambda t: (quality(t), -abs(t - 0.5)))


def export(checkpoint: Path, out: Path, calibration: dict[str, Any]) -> None:
    """fp16 safetensors + tokenizer + calibration.json into out."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    out.mkdir(parents=True, exist_ok=True)
    model = BertForSequenceClassification.from_pretrained(checkpoint, dtype=torch.float32)
    model.half().save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(checkpoint).save_pretrained(out)
    (out / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n", encoding="utf-8")


def calibrate(checkpoint: Path, data: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Compare the combiners on dev by cross-validation, calibrate the best one on all dev, export."""
    inputs = dev_inputs(checkpoint, data, args)
    (args.work / "dev_inputs.json").write_text(json.dumps(inputs), encoding="utf-8")
    comparison = {variant: cross_validated(inputs, variant, args.seed) for variant in VARIANTS}
    log.info("dev cross-validation: %s", json.dumps(comparison))
    chosen = cheapest_good_enough(comparison)
    calibration = {**fit_calibration(inputs, chosen), **inference_settings(args), "dev_cv": comparison}
    export(checkpoint, out, calibration)
    log.info("calibration: %s", json.dumps(calibration))
    return calibration


def inference_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "max_length": args.infer_max_length,
        "window_words": args.window_words,
        "evidence_words": args.evidence_words,
        "quantize": args.quantize,
        "batch_size": args.infer_batch_size,
        "seed": args.seed,
    }


def fit_heuristic(data: Path, work: Path, threads: int) -> dict[str, Any]:
    """Fit the heuristic scorer's logistic weights and threshold on dev; print them as constants to paste."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from rag.verify.heuristic import HeuristicScorer, combine

    scorer = HeuristicScorer(threads=threads)
    dev = {
        k: (pairs, scorer.feature_batch([(p.premise, p.claim) for p in pairs])) for k, pairs in dev_splits(data).items()
    }
    x = np.array([[f[n] for n in FEATURES] for _, feats in dev.values() for f in feats])
    y = np.array([p.label for pairs, _ in dev.values() for p in pairs])
    weight = np.concatenate([np.full(len(pairs), len(y) / len(pairs)) for pairs, _ in dev.values()])
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y, sample_weight=weight)
    weights = {n: round(float(w), 3) for n, w in zip(FEATURES, model.coef_[0], strict=True)}
    bias = round(float(model.intercept_[0]), 3)
    scored = {
        k: ([p.label for p in pairs], [combine(f, weights, bias) for f in feats]) for k, (pairs, feats) in dev.items()
    }
    fit = {"weights": weights, "bias": bias, "threshold": best_threshold(scored)}
    fit["dev"] = {k: metrics(labels, scores, fit["threshold"]) for k, (labels, scores) in scored.items()}
    (work / "heuristic_fit.json").write_text(json.dumps(fit, indent=2) + "\n", encoding="utf-8")
    log.info("heuristic fit: %s", json.dumps(fit))
    return fit
