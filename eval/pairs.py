"""Labelled (premise, claim) pairs of WiCE, HaluEval or plain NLI files, and the single definition of their
deterministic held-out / dev / train splits: the training recipe (training.verifier) and the verifier
evaluation (eval.verifier_eval) both read pairs through here, so nothing trained or tuned on is ever measured.

Formats: wice ({claim, evidence[], label}: supported -> 1, partially/not supported -> 0; premise = the
evidence sentences joined), halueval ({knowledge, question, right_answer, hallucinated_answer}: two pairs per
item, premise = knowledge, claim = question + " " + answer), pairs ({premise, hypothesis, label}).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eval.datasets import read_jsonl
from rag.errors import InputError

FORMATS = ("wice", "halueval", "pairs")
SPLITS = ("all", "heldout", "dev", "train")
SPLIT_SALT = "grounded-rag/verifier-split/v1"
# fraction of WiCE claims (by hash of the claim text) in each split; the rest is train
WICE_HELDOUT, WICE_DEV = 0.40, 0.30
# HaluEval items (by hash of the question) held out, then used as dev; the rest is train
HALUEVAL_HELDOUT, HALUEVAL_DEV = 1000, 500
POSITIVE_LABELS = {"supported", "entailment", "1", "true"}


@dataclass(frozen=True)
class LabeledPair:
    """One premise/claim pair with its gold label (1 = supported) and a stable id."""

    id: str
    premise: str
    claim: str
    label: int


def split_key(text: str) -> str:
    """The salted hash that orders items for splitting: stable across runs, machines and file order."""
    return hashlib.sha256(f"{SPLIT_SALT}:{text}".encode()).hexdigest()


def split_position(text: str) -> float:
    """Where `text` falls in [0, 1] by its salted hash: a split by share (below the held-out share: held out)."""
    return int(split_key(text)[:8], 16) / 0xFFFFFFFF


def assign_splits(keys: Sequence[str], heldout: int, dev: int) -> list[str]:
    """Split name per item: the `heldout` items with the lowest hash, then `dev`, then train."""
    order = sorted(range(len(keys)), key=lambda i: (split_key(keys[i]), i))
    names = ["train"] * len(keys)
    for rank, index in enumerate(order):
        names[index] = "heldout" if rank < heldout else "dev" if rank < heldout + dev else "train"
    return names


def wice_splits(records: Sequence[dict]) -> list[str]:
    """Split name per WiCE record, by its claim: WICE_HELDOUT of them held out, WICE_DEV dev, the rest train."""
    count = len(records)
    return assign_splits([r["claim"] for r in records], round(count * WICE_HELDOUT), round(count * WICE_DEV))


def _wice_pairs(records: list[dict]) -> Iterable[tuple[str, list[LabeledPair]]]:
    for number, (record, name) in enumerate(zip(records, wice_splits(records), strict=True)):
        label = int(record["label"] == "supported")
        pair = LabeledPair(f"wice-{number}", " ".join(record["evidence"]), record["claim"], label)
        yield name, [pair]


def _halueval_pairs(records: list[dict]) -> Iterable[tuple[str, list[LabeledPair]]]:
    names = assign_splits([r["question"] for r in records], HALUEVAL_HELDOUT, HALUEVAL_DEV)
    for number, (record, name) in enumerate(zip(records, names, strict=True)):
        claim = record["question"] + " "
        yield (
            name,
            [
                LabeledPair(f"halueval-{number}-right", record["knowledge"], claim + record["right_answer"], 1),
                LabeledPair(
                    f"halueval-{number}-hallucinated",
                    record["knowledge"],
                    claim + record["hallucinated_answer"],
                    0,
                ),
            ],
        )


def _plain_pairs(records: list[dict]) -> Iterable[tuple[str, list[LabeledPair]]]:
    for number, record in enumerate(records):
        label = int(str(record["label"]).lower() in POSITIVE_LABELS)
        claim = record["hypothesis"] if "hypothesis" in record else record["claim"]  # NLI files, or ours
        yield "all", [LabeledPair(str(record.get("id", f"pair-{number}")), record["premise"], claim, label)]


READERS: dict[str, Callable[[list[dict]], Iterable[tuple[str, list[LabeledPair]]]]] = {
    "wice": _wice_pairs,
    "halueval": _halueval_pairs,
    "pairs": _plain_pairs,
}


def load_pairs(path: Path, fmt: str, split: str = "all") -> list[LabeledPair]:
    """Labeled pairs of one split of a benchmark file (`pairs` files have no splits: use "all")."""
    if fmt not in READERS:
        raise InputError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if not path.is_file():
        raise InputError(f"dataset {path} does not exist")
    try:
        groups = list(READERS[fmt](list(read_jsonl(path))))
    except KeyError as missing:
        raise InputError(f"{path}: a {fmt} record has no {missing.args[0]!r}") from None
    return [pair for name, pairs in groups if split in ("all", name) for pair in pairs]
