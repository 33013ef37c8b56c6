"""The HaluEval train set for judging generated sentences (eval/halueval_set.py) takes only train-split items, each
question with its own knowledge as the gold passage."""

from __future__ import annotations

import json
from pathlib import Path

from eval.datasets import read_jsonl
from eval.halueval_set import write_set
from eval.pairs import load_pairs
from tests.conftest import shared_path


def test_only_train_items_with_their_own_knowledge(tmp_path: Path) -> None:
    qa = shared_path("halueval/qa_dev.jsonl")
    assert write_set(qa, tmp_path, limit=12) == 12
    corpus = {r["pid"]: r["text"] for r in read_jsonl(tmp_path / "corpus.jsonl")}
    questions = list(read_jsonl(tmp_path / "questions.jsonl"))
    records = [json.loads(line) for line in qa.read_text(encoding="utf-8").splitlines() if line.strip()]
    measured = {p.claim for split in ("dev", "heldout") for p in load_pairs(qa, "halueval", split)}
    for question in questions:
        [gold] = question["gold_doc_ids"]
        record = records[int(gold.removeprefix("halueval-"))]
        assert corpus[gold] == record["knowledge"] and question["question"] == record["question"]
        assert question["answers"] == [record["right_answer"]]
        assert f"{record['question']} {record['right_answer']}" not in measured
