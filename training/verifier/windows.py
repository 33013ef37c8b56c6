"""In-context training pairs: evidence inside a premise window of the size the scorer reads at inference.

The cross-encoder was trained on premises of at most 130 words but reads 150-word windows of real passages, and it
scored a sentence copied from a window, or WiCE's annotated evidence inside its page, no higher than the window's
other text. Three recipes put the evidence in such windows (labels as their sources give them):
- climate evidence sets: Climate-FEVER's five evidence sentences of a claim read as one window; the set with its
  supporting sentences is supported, the same set with them removed is not (MiniCheck's "all but one" recipe on
  real, on-topic text); sets that only refute or say nothing are not;
- needles: a FEVER pair's premise placed at a random point among sentences of other FEVER premises;
- WiCE pages (train split only): the window of the claim's page that holds an annotated evidence group carries
  the claim's label; for a supported claim, a window holding no evidence is not supported.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from eval.datasets import read_jsonl
from eval.pairs import POSITIVE_LABELS, LabeledPair, wice_splits
from rag.text import content_stems, sentences
from rag.verify.nli import DEFAULT_WINDOW_WORDS
from rag.verify.windows import split_windows

WINDOW_WORDS = DEFAULT_WINDOW_WORDS  # the inference window (calibration.json's window_words)
NEEDLES = 2000
NEEDLE_PREMISE_WORDS = 60


def climate_sets(data: Path) -> list[LabeledPair]:
    """Climate-FEVER claims against their evidence sets, with and without the supporting sentences."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for record in read_jsonl(data / "nli" / "climate_fever.jsonl"):
        groups[record["hypothesis"]].append((record["premise"], record["label"]))
    pairs = []
    for number, (claim, evidence) in enumerate(groups.items()):
        labels = {label for _, label in evidence}
        if "entailment" in labels and "contradiction" in labels:
            continue  # the annotators disagree with each other
        text = " ".join(premise for premise, _ in evidence)
        if len(text.split()) > WINDOW_WORDS:
            continue  # longer than one window: truncation could cut the evidence off
        if "entailment" in labels:
            pairs.append(LabeledPair(f"climate-set-{number}", text, claim, 1))
            rest = [premise for premise, label in evidence if label != "entailment"]
            if len(rest) >= 2:
                pairs.append(LabeledPair(f"climate-rest-{number}", " ".join(rest), claim, 0))
        else:
            pairs.append(LabeledPair(f"climate-set-{number}", text, claim, 0))
    return pairs


def needles(data: Path, rng: random.Random, count: int = NEEDLES) -> list[LabeledPair]:
    """FEVER pairs whose short premise is hidden among other FEVER premises' sentences, up to a window."""
    records = list(read_jsonl(data / "nli" / "fever_nli_dev.jsonl"))
    sample = rng.sample(records, min(3000, len(records)))
    filler = [s for r in sample for s in sentences(r["premise"]) if len(s.split()) <= NEEDLE_PREMISE_WORDS // 2]
    short = [r for r in records if len(r["premise"].split()) <= NEEDLE_PREMISE_WORDS]
    pairs = []
    for number, record in enumerate(rng.sample(short, min(count, len(short)))):
        budget = rng.randint(90, WINDOW_WORDS) - len(record["premise"].split())
        around: list[str] = []
        while budget > 0:
            sentence = rng.choice(filler)
            around.append(sentence)
            budget -= len(sentence.split())
        around.insert(rng.randint(0, len(around)), record["premise"])
        label = int(record["label"] in POSITIVE_LABELS)
        pairs.append(LabeledPair(f"needle-{number}", " ".join(around), record["hypothesis"], label))
    return pairs


def wice_page_windows(data: Path) -> list[LabeledPair]:
    """WiCE train claims against windows of their own page (train split only)."""
    records = list(read_jsonl(data / "wice" / "claims_dev.jsonl"))
    pairs = []
    for number, (record, name) in enumerate(zip(records, wice_splits(records), strict=True)):
        if name == "train":
            pairs += _page_windows(number, record)
    return pairs


def _page_windows(number: int, record: dict[str, Any]) -> list[LabeledPair]:
    """Up to two windows holding an evidence group (the claim's label); for a supported claim, also the window
    sharing most words with it among those that hold no evidence (not supported)."""
    evidence = record["evidence"]
    groups = [set(g) for g in record.get("supporting_sentences", []) if g and max(g) < len(evidence)]
    label = int(record["label"] == "supported")
    windows = split_windows(" ".join(evidence), WINDOW_WORDS)
    held = [set(_held(window, evidence)) for window in windows]
    holding = [i for i, h in enumerate(held) if any(group <= h for group in groups)]
    pairs = [LabeledPair(f"wice-window-{number}-{i}", windows[i], record["claim"], label) for i in holding[:2]]
    cited = set().union(*groups) if groups else set()
    empty = [i for i, h in enumerate(held) if not h & cited]
    if label == 1 and empty:
        claim_words = content_stems(record["claim"])
        nearest = max(empty, key=lambda i: len(claim_words & content_stems(windows[i])))
        pairs.append(LabeledPair(f"wice-window-{number}-{nearest}", windows[nearest], record["claim"], 0))
    return pairs


def _held(window: str, evidence: list[str]) -> list[int]:
    """Which of the page's sentences (by index) appear in the window."""
    return [i for i, sentence in enumerate(evidence) if sentence.strip() and sentence.strip() in window]


def window_pairs(data: Path, rng: random.Random) -> list[LabeledPair]:
    """Every in-context pair of the three recipes."""
    return climate_sets(data) + needles(data, rng) + wice_page_windows(data)
