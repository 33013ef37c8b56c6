"""The verifier's training pairs: a seeded sample of the NLI sources, the train splits of HaluEval and WiCE, and
rule-made hard negatives (number changed, entity swapped, negated)."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.datasets import read_jsonl
from eval.pairs import POSITIVE_LABELS, LabeledPair, load_pairs, wice_splits
from eval.product_pairs import product_pairs
from eval.synthetic import synthetic_pairs
from eval.written_pairs import written_pairs
from training.verifier.windows import window_pairs

log = logging.getLogger(__name__)

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


def sample_nli(data: Path, rng: random.Random) -> list[LabeledPair]:
    """The seeded sample of each NLI source, labels mapped to supported (1) / not (0)."""
    pairs: list[LabeledPair] = []
    for name, (count, _licence) in NLI_SOURCES.items():
        records = [r for r in read_jsonl(data / "nli" / name) if len(r["premise"].split()) <= MAX_PREMISE_WORDS]
        chosen = rng.sample(records, min(count, len(records)))
        pairs += [
            LabeledPair(f"{name}-{i}", r["premise"], r["hypothesis"], int(r["label"] in POSITIVE_LABELS))
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
    pairs = []
    for number, (record, name) in enumerate(zip(records, wice_splits(records), strict=True)):
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


def training_set(
    data: Path,
    seed: int,
    synthetic_repeat: int = 0,
    replay: int | None = None,
    product_run: Path | None = None,
    product_repeat: int = 1,
    written_repeat: int = 0,
    wice_repeat: int = 0,
    window_repeat: int = 0,
) -> list[LabeledPair]:
    """Every training pair, shuffled with the seed; the project's own claims (eval.synthetic, train split) are
    added `synthetic_repeat` times, the labelled generator sentences of `product_run` (eval.product_pairs, train
    split) `product_repeat` times, and the project's written paraphrase pairs (eval.written_pairs, train split)
    `written_repeat` times, the WiCE train pairs `wice_repeat` more times, and the in-context window pairs
    (training.verifier.windows) `window_repeat` times. With `replay`, only that many of the
    public pairs are kept (a continuation of a model already trained on them)."""
    rng = random.Random(seed)
    wice = wice_train_pairs(data)
    pairs = sample_nli(data, rng) + sample_halueval(data, rng) + wice
    pairs += hard_negatives(pairs, rng)
    if replay is not None:
        pairs = rng.sample(pairs, min(replay, len(pairs)))
    pairs += synthetic_pairs(data, "train") * synthetic_repeat
    if product_run is not None:
        product, unmatched = product_pairs(product_run, "train")
        if unmatched:
            log.warning("%d product labels do not match %s (another generator or checkout)", unmatched, product_run)
        pairs += product * product_repeat
    pairs += written_pairs("train") * written_repeat
    pairs += wice * wice_repeat
    if window_repeat:
        pairs += window_pairs(data, rng) * window_repeat
    rng.shuffle(pairs)
    return pairs
