"""HaluEval QA train items as a small corpus and eval set, to judge what the default generator writes on them (the
product-sentence labels in data/judged, beside CLAPNQ's):

    python -m eval.halueval_set ../shared/data/halueval/qa_dev.jsonl --out runs/halueval-train [--limit 40] [--skip 0]

Writes OUT/corpus.jsonl (each item's knowledge as one passage, id halueval-N for line N of the file) and
OUT/questions.jsonl (each question with its right answer and its own knowledge as the gold passage). Only items of
the train split (eval.pairs) are taken, so the verifier's dev and held-out items stay unseen.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from eval.datasets import EvalItem, read_jsonl, write_items
from eval.pairs import HALUEVAL_DEV, HALUEVAL_HELDOUT, assign_splits


def train_items(path: Path, limit: int, skip: int = 0) -> list[tuple[int, dict]]:
    """(line number, record) of `limit` HaluEval QA records of the train split, after its first `skip`."""
    records = list(read_jsonl(path))
    splits = assign_splits([r["question"] for r in records], HALUEVAL_HELDOUT, HALUEVAL_DEV)
    train = [(n, r) for n, (r, split) in enumerate(zip(records, splits, strict=True)) if split == "train"]
    return train[skip : skip + limit]


def write_set(path: Path, out: Path, limit: int, skip: int = 0) -> int:
    items = train_items(path, limit, skip)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for n, record in items:
            corpus.write(json.dumps({"pid": f"halueval-{n}", "title": "", "text": record["knowledge"]}) + "\n")
    questions = (EvalItem(f"halueval-{n}", r["question"], (r["right_answer"],), (f"halueval-{n}",)) for n, r in items)
    return write_items(questions, out / "questions.jsonl")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("qa", type=Path, help="HaluEval's qa_dev.jsonl")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--skip", type=int, default=0, help="leave out the first SKIP train items")
    args = parser.parse_args(argv)
    print(f"{write_set(args.qa, args.out, args.limit, args.skip)} questions written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
