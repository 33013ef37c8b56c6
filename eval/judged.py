"""Figures the verifier does not decide: what independent judges (a person, or a strong judge model spot-checked by
a person) said of the sentences and answers a run showed.

The labels are data, kept in the repository without any third-party text:
- data/judged/sentences.jsonl: {"item", "sha", "supported", "judge"}: one sentence of one eval item (sha = the
  first 12 hex digits of the SHA-256 of its text), judged against the passages the generator read;
- data/judged/answers.jsonl: {"item", "sha", "verdict": correct | partial | wrong, "judge"}: the whole shown answer
  of an answerable item (sha of the answer text) judged against the question's gold answer and the sources.
A changed run is re-judged by one command: this one reports the four figures and, with --export, writes what is
not judged yet (with the question, gold answers and passages, outside the repository) for the judges.

    python -m eval.judged --run runs/clapnq [--export /tmp/todo.jsonl] [--json]

The four figures (an unanswerable item that shows an answer counts as a wrong answer; partial is neither):
  shown supported       share of judged shown sentences that are supported (raw: the generator's own sentences)
  wrong shown           share of items whose shown answer (verified or extractive) is wrong
  answerable correct    share of answerable items whose shown answer is correct
  unanswerable refused  share of unanswerable items that abstained
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.datasets import read_jsonl

LABELS = Path(__file__).resolve().parent.parent / "data" / "judged"
SENTENCES = "sentences.jsonl"
ANSWERS = "answers.jsonl"
VERDICTS = ("correct", "partial", "wrong")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass
class Labels:
    """The judged sentences and answers, by (item id, text hash)."""

    sentences: dict[tuple[str, str], bool] = field(default_factory=dict)
    answers: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path = LABELS) -> Labels:
        labels = cls()
        if (folder / SENTENCES).is_file():
            labels.sentences = {(r["item"], r["sha"]): bool(r["supported"]) for r in read_jsonl(folder / SENTENCES)}
        if (folder / ANSWERS).is_file():
            labels.answers = {(r["item"], r["sha"]): r["verdict"] for r in read_jsonl(folder / ANSWERS)}
        return labels


@dataclass
class Tally:
    """Counts behind the four figures."""

    items: int = 0
    answerable: int = 0
    unanswerable: int = 0
    refused_unanswerable: int = 0
    answered_unanswerable: int = 0
    correct: int = 0
    partial: int = 0
    wrong: int = 0
    unjudged_answers: int = 0
    shown: int = 0
    shown_supported: int = 0
    shown_unjudged: int = 0
    raw: int = 0
    raw_supported: int = 0
    raw_unjudged: int = 0

    def figures(self) -> dict[str, Any]:
        def share(part: int, whole: int) -> float | None:
            return round(part / whole, 4) if whole else None

        return {
            "shown_supported": share(self.shown_supported, self.shown),
            "raw_supported": share(self.raw_supported, self.raw),
            "wrong_shown": share(self.wrong + self.answered_unanswerable, self.items - self.unjudged_answers),
            "answerable_correct": share(self.correct, self.answerable - self.unjudged_answers),
            "unanswerable_refused": share(self.refused_unanswerable, self.unanswerable),
            "counts": {k: v for k, v in vars(self).items()},
        }


def shown_sentences(record: dict[str, Any]) -> list[str]:
    answer = record.get("answer") or {}
    return [] if answer.get("abstained", True) else [s["text"] for s in answer.get("sentences", [])]


def raw_sentences(record: dict[str, Any]) -> list[str]:
    return [s["text"] for s in (record.get("raw") or {}).get("sentences", [])]


def shown_answer(record: dict[str, Any]) -> str | None:
    answer = record.get("answer") or {}
    return None if answer.get("abstained", True) else answer.get("answer", "")


def tally(records: Iterable[dict[str, Any]], labels: Labels) -> Tally:
    counts = Tally()
    for record in records:
        if record.get("error"):
            continue
        item = str(record["id"])
        counts.items += 1
        _count_sentences(counts, item, shown_sentences(record), labels, "shown")
        _count_sentences(counts, item, raw_sentences(record), labels, "raw")
        answer = shown_answer(record)
        if not record["answerable"]:
            counts.unanswerable += 1
            counts.refused_unanswerable += answer is None
            counts.answered_unanswerable += answer is not None
            continue
        counts.answerable += 1
        if answer is None:
            continue
        verdict = labels.answers.get((item, text_hash(answer)))
        if verdict is None:
            counts.unjudged_answers += 1
        else:
            setattr(counts, verdict, getattr(counts, verdict) + 1)
    return counts


def _count_sentences(counts: Tally, item: str, texts: Sequence[str], labels: Labels, kind: str) -> None:
    for text in texts:
        label = labels.sentences.get((item, text_hash(text)))
        if label is None:
            setattr(counts, f"{kind}_unjudged", getattr(counts, f"{kind}_unjudged") + 1)
            continue
        setattr(counts, kind, getattr(counts, kind) + 1)
        setattr(counts, f"{kind}_supported", getattr(counts, f"{kind}_supported") + label)


def to_judge(records: Iterable[dict[str, Any]], labels: Labels, raw: bool = True) -> list[dict[str, Any]]:
    """What the run showed (and, with `raw`, what its generator wrote) that has no label yet, with what a judge
    needs: the question, the gold answers and the passages the generator read."""
    todo = []
    for record in records:
        if record.get("error"):
            continue
        item = str(record["id"])
        passages = [p["text"] for p in (record.get("answer") or {}).get("passages", [])]
        gold = record.get("answers", [])
        context = {"item": item, "question": record["question"], "gold": gold, "passages": passages}
        texts = shown_sentences(record) + (raw_sentences(record) if raw else [])
        for text in dict.fromkeys(texts):
            if (item, text_hash(text)) not in labels.sentences:
                todo.append({**context, "kind": "sentence", "sha": text_hash(text), "text": text})
        answer = shown_answer(record)
        if record["answerable"] and answer is not None and (item, text_hash(answer)) not in labels.answers:
            todo.append({**context, "kind": "answer", "sha": text_hash(answer), "text": answer})
    return todo


def report(run: Path, labels: Labels) -> dict[str, Any]:
    records = list(read_jsonl(run / "items.jsonl"))
    return {"run": str(run), **tally(records, labels).figures()}


def markdown(results: Sequence[dict[str, Any]]) -> str:
    from eval.report import md_table

    def cell(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}"

    header = ("run", "shown supported", "raw supported", "wrong shown", "answerable correct", "unanswerable refused")
    rows = [
        (
            r["run"],
            f"{cell(r['shown_supported'])} ({r['counts']['shown_supported']} of {r['counts']['shown']})",
            f"{cell(r['raw_supported'])} ({r['counts']['raw_supported']} of {r['counts']['raw']})",
            cell(r["wrong_shown"]),
            cell(r["answerable_correct"]),
            cell(r["unanswerable_refused"]),
        )
        for r in results
    ]
    return "\n".join(md_table(header, rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, action="append", required=True, help="an eval run directory (repeatable)")
    parser.add_argument("--labels", type=Path, default=LABELS, help="folder of sentences.jsonl and answers.jsonl")
    parser.add_argument("--export", type=Path, help="write what is not judged yet here (JSONL, outside the repo)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    args = parser.parse_args(argv)
    missing = [run for run in args.run if not (run / "items.jsonl").is_file()]
    if missing:
        print(f"error: {missing[0] / 'items.jsonl'} not found: run `rag eval` into it first", file=sys.stderr)
        return 2
    labels = Labels.load(args.labels)
    results = [report(run, labels) for run in args.run]
    if args.export:
        todo = [entry for run in args.run for entry in to_judge(read_jsonl(run / "items.jsonl"), labels)]
        with args.export.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(entry, ensure_ascii=False) + "\n" for entry in todo)
        print(f"{len(todo)} sentences and answers to judge written to {args.export}", file=sys.stderr)
    for result in results:
        unjudged = result["counts"]["shown_unjudged"] + result["counts"]["unjudged_answers"]
        if unjudged:
            print(f"{result['run']}: {unjudged} shown sentences or answers not judged yet (--export)", file=sys.stderr)
    print(json.dumps(results, indent=2) if args.json else markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
