"""The evaluation-set format, shared by every stage, and converters from public datasets into it.

One question a line: {"id", "question", "answers": [...] (empty = unanswerable), "gold_doc_ids": [...],
"gold_sentences": [...] (optional)}. Answered questions can also be written in ragas's EvaluationDataset layout.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.errors import InputError


@dataclass(frozen=True)
class EvalItem:
    """One evaluation question with its gold answers, documents and supporting sentences."""

    id: str
    question: str
    answers: tuple[str, ...] = ()
    gold_doc_ids: tuple[str, ...] = ()
    gold_sentences: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.answers)

    def to_dict(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def read_jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise InputError(f"{path}:{number}: not JSON ({error.msg})") from None


def load_items(path: Path) -> list[EvalItem]:
    """Read an eval set; a line missing `id` or `question` is an error naming the line."""
    items = []
    for number, record in enumerate(read_jsonl(path), start=1):
        try:
            items.append(
                EvalItem(
                    id=str(record["id"]),
                    question=str(record["question"]),
                    answers=tuple(record.get("answers", ())),
                    gold_doc_ids=tuple(str(d) for d in record.get("gold_doc_ids", ())),
                    gold_sentences=tuple(record.get("gold_sentences", ())),
                )
            )
        except KeyError as missing:
            raise InputError(f"{path}: item {number} has no {missing.args[0]!r}") from None
    return items


def write_items(items: Iterable[EvalItem], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for item in items:
            out.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def ragas_row(question: str, response: str, contexts: Sequence[str], golds: Sequence[str]) -> dict[str, object]:
    """One answered question in ragas's EvaluationDataset JSONL layout (the first gold answer as reference)."""
    row: dict[str, object] = {"user_input": question, "retrieved_contexts": list(contexts), "response": response}
    if golds:
        row["reference"] = golds[0]
    return row


def write_ragas(path: Path, rows: Iterable[dict[str, object]]) -> None:
    """Rows in ragas's EvaluationDataset JSONL layout (`EvaluationDataset.from_jsonl` reads them)."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def clapnq_gold_pids(passages: Path) -> dict[str, list[str]]:
    """question id -> pids of the passages whose gold_for_qids lists it."""
    gold: dict[str, list[str]] = {}
    for passage in read_jsonl(passages):
        for qid in passage.get("gold_for_qids", ()):
            gold.setdefault(str(qid), []).append(str(passage["pid"]))
    return gold


def convert_clapnq(questions: Sequence[Path], passages: Path) -> Iterator[EvalItem]:
    """CLAPNQ questions (answerable or not) in the project's eval format."""
    gold = clapnq_gold_pids(passages)
    for path in questions:
        for record in read_jsonl(path):
            outputs = record.get("output", ())
            answers = tuple(o["answer"] for o in outputs if o.get("answer"))
            sentences = dict.fromkeys(s for o in outputs if o.get("answer") for s in o.get("selected_sentences", ()))
            yield EvalItem(
                id=str(record["id"]),
                question=record["input"],
                answers=answers,
                gold_doc_ids=tuple(gold.get(str(record["id"]), ())) if answers else (),
                gold_sentences=tuple(sentences),
            )


CONVERTERS = {"clapnq": convert_clapnq}
