"""eval.written_pairs: the project's written paraphrase pairs, split by premise, every claim of a premise together."""

from __future__ import annotations

import json
from pathlib import Path

from eval.written_pairs import WRITTEN, written_pairs


def test_pairs_keep_their_labels_and_a_premise_never_straddles_the_split(tmp_path: Path) -> None:
    rows = [
        {"premise_id": f"9-{n:02d}", "premise": f"Premise {n}.", "claim": f"Claim {n}{c}.", "label": c % 2, "kind": "x"}
        for n in range(50)
        for c in range(4)
    ]
    (tmp_path / "batch-9.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train, heldout = written_pairs("train", tmp_path), written_pairs("heldout", tmp_path)
    assert len(train) + len(heldout) == 200 and heldout
    assert {p.premise for p in train}.isdisjoint({p.premise for p in heldout})
    assert sorted(p.label for p in written_pairs("all", tmp_path)) == [0] * 100 + [1] * 100


def test_the_committed_pairs_are_balanced_and_none_is_a_test_pair() -> None:
    pairs = written_pairs("all")
    assert len(pairs) >= 1000
    tests = {json.loads(line)["claim"] for line in (WRITTEN.parent / "contradictions.jsonl").open()}
    assert not {p.claim for p in pairs} & tests
    assert abs(sum(p.label for p in pairs) * 2 - len(pairs)) <= len(pairs) // 10
