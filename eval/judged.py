"""Figures the verifier does not decide: what independent judges (a person, or a strong judge model spot-checked by
a person) said of the sentences and answers a run showed.

The labels are data, kept in the repository without any third-party text:
- data/judged/sentences.jsonl: {"item", "sha", "supported", "judge"}: one sentence of one eval item (sha = the
  first 12 hex digits of the SHA-256 of its text), judged against the passages the generator read;
- data/judged/answers.jsonl: {"item", "sha", "verdict": correct | partial | wrong, "judge"}: the whole shown answer
  of an answerable item (sha of the answer text) judged against the question's gold answer and the sources.
A changed run is re-judged by one command: this one reports the four figures and, with --export, writes what is
not judged yet (with the question, gold answers and passages, outside the repository) for the judges.

    python -m eval.judged --run runs/clapnq [--export /tmp/todo.jsonl] [--json] [--thresholds 0.4,0.7]

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
    """Counts behind the four figures, for what was shown and (raw_) for what the generator wrote."""

    items: int = 0
    answerable: int = 0
    unanswerable: int = 0
    shown: int = 0
    shown_supported: int = 0
    shown_unjudged: int = 0
    refused_unanswerable: int = 0
    answered_unanswerable: int = 0
    correct: int = 0
    partial: int = 0
    wrong: int = 0
    unjudged_answers: int = 0
    generated_items: int = 0
    raw: int = 0
    raw_supported: int = 0
    raw_unjudged: int = 0
    raw_refused_unanswerable: int = 0
    raw_answered_unanswerable: int = 0
    raw_correct: int = 0
    raw_partial: int = 0
    raw_wrong: int = 0
    raw_unjudged_answers: int = 0

    def add(self, name: str, amount: int = 1) -> None:
        setattr(self, name, getattr(self, name) + amount)

    def figures(self) -> dict[str, Any]:
        def share(part: int, whole: int) -> float | None:
            return round(part / whole, 4) if whole else None

        def answers(prefix: str, items: int, answerable: int, unanswerable: int) -> dict[str, float | None]:
            def get(name: str) -> int:
                return getattr(self, prefix + name)

            wrong = get("wrong") + get("answered_unanswerable")
            return {
                f"{prefix}wrong_shown": share(wrong, items - get("unjudged_answers")),
                f"{prefix}answerable_correct": share(get("correct"), answerable - get("unjudged_answers")),
                f"{prefix}unanswerable_refused": share(get("refused_unanswerable"), unanswerable),
            }

        generated_unanswerable = self.raw_refused_unanswerable + self.raw_answered_unanswerable
        return {
            "shown_supported": share(self.shown_supported, self.shown),
            "raw_supported": share(self.raw_supported, self.raw),
            **answers("", self.items, self.answerable, self.unanswerable),
            **answers(
                "raw_",
                self.generated_items,
                self.generated_items - generated_unanswerable,
                generated_unanswerable,
            ),
            "counts": dict(vars(self)),
        }


def shown_sentences(record: dict[str, Any]) -> list[str]:
    answer = record.get("answer") or {}
    return [] if answer.get("abstained", True) else [s["text"] for s in answer.get("sentences", [])]


def raw_sentences(record: dict[str, Any]) -> list[str]:
    return [s["text"] for s in (record.get("raw") or {}).get("sentences", [])]


def shown_answer(record: dict[str, Any]) -> str | None:
    answer = record.get("answer") or {}
    return None if answer.get("abstained", True) else answer.get("answer", "")


def raw_answer(record: dict[str, Any]) -> str | None:
    raw = record.get("raw") or {}
    return None if raw.get("abstained", True) else raw.get("text", "")


def generated(record: dict[str, Any]) -> bool:
    """Whether a generator wrote this item's answer (an extractive answer has no raw answer to judge)."""
    return "generate" in (record.get("answer") or {}).get("timings", {})


def tally(records: Iterable[dict[str, Any]], labels: Labels) -> Tally:
    counts = Tally()
    for record in records:
        if record.get("error"):
            continue
        item = str(record["id"])
        counts.items += 1
        counts.answerable += bool(record["answerable"])
        counts.unanswerable += not record["answerable"]
        _count_sentences(counts, item, shown_sentences(record), labels, "shown")
        _count_answer(counts, "", record, shown_answer(record), labels)
        if generated(record):
            counts.generated_items += 1
            _count_sentences(counts, item, raw_sentences(record), labels, "raw")
            _count_answer(counts, "raw_", record, raw_answer(record), labels)
    return counts


def _count_answer(counts: Tally, prefix: str, record: dict[str, Any], answer: str | None, labels: Labels) -> None:
    if not record["answerable"]:
        counts.add(prefix + ("refused_unanswerable" if answer is None else "answered_unanswerable"))
    elif answer is not None:
        verdict = labels.answers.get((str(record["id"]), text_hash(answer)))
        counts.add(prefix + (verdict or "unjudged_answers"))


def _count_sentences(counts: Tally, item: str, texts: Sequence[str], labels: Labels, kind: str) -> None:
    for text in texts:
        label = labels.sentences.get((item, text_hash(text)))
        if label is None:
            counts.add(f"{kind}_unjudged")
        else:
            counts.add(kind)
            counts.add(f"{kind}_supported", label)


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
        answers = [shown_answer(record)] + ([raw_answer(record)] if raw and generated(record) else [])
        for answer in dict.fromkeys(a for a in answers if a is not None):
            if record["answerable"] and (item, text_hash(answer)) not in labels.answers:
                todo.append({**context, "kind": "answer", "sha": text_hash(answer), "text": answer})
    return todo


def generated_scores(records: Iterable[dict[str, Any]], labels: Labels) -> list[tuple[float, bool]]:
    """(support, judged supported) of every judged generated sentence of the run, shown or withheld: the
    sentences a stricter threshold for generated text (setting generated_support_threshold) would decide."""
    found = []
    for record in records:
        answer = record.get("answer") or {}
        sentences = answer.get("sentences", []) + answer.get("removed_sentences", [])
        for sentence in sentences:
            label = labels.sentences.get((str(record["id"]), text_hash(sentence["text"])))
            if sentence["status"] != "quoted" and label is not None:
                found.append((float(sentence["support"]), label))
    return found


def threshold_table(scores: Sequence[tuple[float, bool]], thresholds: Sequence[float]) -> str:
    """What each threshold would show of the judged generated sentences: supported and unsupported kept."""
    from eval.report import md_table

    rows = []
    for threshold in thresholds:
        kept = [label for support, label in scores if support >= threshold]
        precision = f"{sum(kept) / len(kept):.2f}" if kept else "–"
        rows.append((f"{threshold:.2f}", str(sum(kept)), str(len(kept) - sum(kept)), precision))
    header = ("threshold", "supported kept", "unsupported kept", "share supported")
    return "\n".join(md_table(header, rows))


def report(run: Path, records: Iterable[dict[str, Any]], labels: Labels) -> dict[str, Any]:
    return {"run": str(run), **tally(records, labels).figures()}


def markdown(results: Sequence[dict[str, Any]]) -> str:
    from eval.report import md_table

    def cell(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}"

    header = ("run", "", "supported sentences", "wrong answer", "answerable correct", "unanswerable refused")

    def row(r: dict[str, Any], run: str, kind: str, sentences: str, prefix: str) -> tuple[str, ...]:
        counts = r["counts"]
        supported = f"{cell(r[f'{sentences}_supported'])} ({counts[f'{sentences}_supported']} of {counts[sentences]})"
        figures = (r[f"{prefix}{name}"] for name in ("wrong_shown", "answerable_correct", "unanswerable_refused"))
        return (run, kind, supported, *map(cell, figures))

    rows = []
    for r in results:
        rows.append(row(r, r["run"], "shown", "shown", ""))
        if r["counts"]["generated_items"]:
            rows.append(row(r, "", "raw generator", "raw", "raw_"))
    return "\n".join(md_table(header, rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, action="append", required=True, help="an eval run directory (repeatable)")
    parser.add_argument("--labels", type=Path, default=LABELS, help="folder of sentences.jsonl and answers.jsonl")
    parser.add_argument("--export", type=Path, help="write what is not judged yet here (JSONL, outside the repo)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    parser.add_argument(
        "--thresholds",
        help="comma-separated support thresholds: what each would keep of the runs' judged generated sentences",
    )
    args = parser.parse_args(argv)
    missing = [run for run in args.run if not (run / "items.jsonl").is_file()]
    if missing:
        print(f"error: {missing[0] / 'items.jsonl'} not found: run `rag eval` into it first", file=sys.stderr)
        return 2
    labels = Labels.load(args.labels)
    records = {run: list(read_jsonl(run / "items.jsonl")) for run in args.run}
    results = [report(run, items, labels) for run, items in records.items()]
    if args.export:
        todo = [entry for items in records.values() for entry in to_judge(items, labels)]
        with args.export.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(entry, ensure_ascii=False) + "\n" for entry in todo)
        print(f"{len(todo)} sentences and answers to judge written to {args.export}", file=sys.stderr)
    for result in results:
        counts = result["counts"]
        unjudged = sum(
            counts[k] for k in ("shown_unjudged", "unjudged_answers", "raw_unjudged", "raw_unjudged_answers")
        )
        if unjudged:
            print(f"{result['run']}: {unjudged} sentences or answers not judged yet (--export)", file=sys.stderr)
    print(json.dumps(results, indent=2) if args.json else markdown(results))
    if args.thresholds:
        scores = [score for items in records.values() for score in generated_scores(items, labels)]
        out = sys.stderr if args.json else sys.stdout
        print(f"\n{len(scores)} judged generated sentences (shown or withheld):\n", file=out)
        print(threshold_table(scores, [float(t) for t in args.thresholds.split(",")]), file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
