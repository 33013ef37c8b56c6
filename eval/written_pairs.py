"""The project's own paraphrase and near-miss pairs (data/verifier/written/*.jsonl): premises written for the
project by helper sessions about invented people, places and products, each with faithful paraphrases (supported:
synonyms, restructured clauses, negation equivalents, arithmetic, summaries) and claims wrong in one detail
(unsupported: a number, a name or role, polarity, an antonym, an added detail, an overgeneralisation). The text is
the project's own, so it is stored as written.

    {"premise_id": "1-07", "premise": "...", "claim": "...", "label": 1, "kind": "synonym"}

Premises are split by a salted hash of their id (WRITTEN_HELDOUT of them held out: measured, never trained or
calibrated on; the rest train). None of them is taken from data/verifier/contradictions.jsonl, the hand-written
test pairs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from eval.datasets import read_jsonl
from eval.pairs import LabeledPair, split_position

WRITTEN = Path(__file__).resolve().parents[1] / "data" / "verifier" / "written"
WRITTEN_HELDOUT = 0.2
Split = Literal["train", "heldout", "all"]


def split_of(premise_id: str) -> str:
    return "heldout" if split_position(f"written:{premise_id}") < WRITTEN_HELDOUT else "train"


def written_pairs(split: Split = "all", folder: Path = WRITTEN) -> list[LabeledPair]:
    """The pairs of one split, in file order."""
    return [
        LabeledPair(f"written-{r['premise_id']}-{n}", r["premise"], r["claim"], int(r["label"]))
        for n, r in enumerate(_records(folder))
        if split == "all" or split_of(r["premise_id"]) == split
    ]


def _records(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.glob("*.jsonl")):
        yield from read_jsonl(path)
