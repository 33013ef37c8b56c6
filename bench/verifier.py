"""Verifier benchmark: (premise, claim) pairs scored per second by the support scorers.

    python bench/verifier.py [--pairs 64]

Pairs come from the CLAPNQ questions: each gold passage with its answer (supported) and with another question's
answer (unsupported). Baseline: the default "trained" cross-encoder scoring one pair per call, as an unbatched
verifier would; ours: the same scorer's `score_batch` over all the pairs (length-sorted batches), which is what
Verifier.verify calls once per answer. The heuristic scorer is reported beside the batched trained one.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import QUESTIONS, SHARED, Row, answerable, passage_records, timed, write_result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clapnq", type=Path, default=SHARED / "clapnq")
    parser.add_argument("--pairs", type=int, default=64)
    return parser.parse_args()


def pairs_from(clapnq: Path, count: int) -> list[tuple[str, str]]:
    """(gold passage, its answer) and (gold passage, another question's answer), alternating."""
    texts, pids = passage_records(clapnq / "passages.jsonl")
    passages = dict(zip(pids, texts, strict=True))
    items = answerable(QUESTIONS, clapnq / "passages.jsonl")
    found = [(passages[i.gold_doc_ids[0]], i.answers[0]) for i in items if i.gold_doc_ids[0] in passages]
    claims = [claim for _, claim in found]
    mixed = [(premise, claims[(i + 1) % len(claims)] if i % 2 else claim) for i, (premise, claim) in enumerate(found)]
    return mixed[:count]


def scorer(name: str) -> Any:
    from rag.config import Settings
    from rag.verify.scoring import load_scorer

    return load_scorer(Settings(scorer=name))


def rate(function: Any, pairs: Sequence[tuple[str, str]]) -> float:
    seconds, _ = timed(lambda: function(pairs))
    return len(pairs) / seconds


def main() -> None:
    args = parse_args()
    if not (args.clapnq / "passages.jsonl").exists():
        raise SystemExit(f"needs {args.clapnq} (the ../shared data beside the checkout)")
    pairs = pairs_from(args.clapnq, args.pairs)
    trained, heuristic = scorer("trained"), scorer("heuristic")
    trained.score_batch(pairs[:2])  # load and warm up
    heuristic.score_batch(pairs[:2])
    one_by_one = rate(lambda ps: [trained.score(p, c) for p, c in ps], pairs)
    batched = rate(trained.score_batch, pairs)
    fast = rate(heuristic.score_batch, pairs)
    rows = [
        Row("trained scorer pairs/s", one_by_one, batched, "pairs/s", True, "one pair a call", "score_batch"),
        Row("heuristic scorer pairs/s", batched, fast, "pairs/s", True, "trained, batched", "heuristic"),
    ]
    write_result("verifier", rows, [f"{len(pairs)} CLAPNQ (passage, answer) pairs, half of them mismatched"])


if __name__ == "__main__":
    main()
