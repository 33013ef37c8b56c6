"""The product's own verifier pairs: sentences the default generator wrote (free composition, `make
eval-halueval-train`) against each passage it read, labelled by judges per passage (data/verifier/product.jsonl).

A label line names a sentence by its item and text hash and the passages the generator read by their text hashes
(first 12 hex digits of SHA-256), so no third-party or generated text is stored; the text comes from the run's
items.jsonl, and a sentence or passage whose text differs (another generator, other settings) is left out.

    {"item": "halueval-N", "sha": "...", "passages": ["<sha of [1]>", ...], "supported_by": [1, 3],
     "supported": true, "judge": "model:helper-21"}

`supported_by` lists the passages that each state everything the sentence says; `supported` is whether the passages
read together do. A sentence makes one pair per passage it read: supported for the passages in supported_by, not
supported for the others, except passages sharing no content word with the sentence (trivial negatives), and
except a sentence that needs several passages together (no single passage supports it, all of them do), which is
left out. Items are split by a salted hash of their id (PRODUCT_HELDOUT of them held out: measured, never trained
or calibrated on).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from eval.datasets import read_jsonl
from eval.judged import text_hash
from eval.pairs import LabeledPair, split_position
from rag.text import content_stems

PRODUCT_LABELS = Path(__file__).resolve().parents[1] / "data" / "verifier" / "product.jsonl"
PRODUCT_HELDOUT = 0.2
Split = Literal["train", "heldout", "all"]


def split_of(item: str) -> str:
    return "heldout" if split_position(f"product:{item}") < PRODUCT_HELDOUT else "train"


def run_texts(run: Path) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """(item, sentence hash) -> (sentence, passages read) for every raw sentence of a run's items.jsonl."""
    found = {}
    for record in read_jsonl(run / "items.jsonl"):
        if record.get("error"):
            continue
        passages = [p["text"] for p in (record.get("answer") or {}).get("passages", [])]
        for sentence in (record.get("raw") or {}).get("sentences", []):
            found[(str(record["id"]), text_hash(sentence["text"]))] = (sentence["text"], passages)
    return found


def sentence_pairs(label: dict[str, Any], sentence: str, passages: list[str]) -> Iterator[LabeledPair]:
    supported_by = set(label["supported_by"])
    if label["supported"] and not supported_by:
        return
    words = content_stems(sentence)
    for number, passage in enumerate(passages, start=1):
        if number in supported_by or words & content_stems(passage):
            pair_id = f"product-{label['item']}-{label['sha']}-{number}"
            yield LabeledPair(pair_id, passage, sentence, int(number in supported_by))


def product_pairs(run: Path, split: Split = "all", labels: Path = PRODUCT_LABELS) -> tuple[list[LabeledPair], int]:
    """The labelled pairs of one split whose texts the run reproduces, and how many labels it did not."""
    texts = run_texts(run)
    pairs: list[LabeledPair] = []
    unmatched = 0
    for label in read_jsonl(labels):
        if split != "all" and split_of(label["item"]) != split:
            continue
        found = texts.get((label["item"], label["sha"]))
        if found is None or [text_hash(p) for p in found[1]] != label["passages"]:
            unmatched += 1
            continue
        pairs += sentence_pairs(label, *found)
    return pairs, unmatched
