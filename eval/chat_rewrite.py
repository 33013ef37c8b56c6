"""Measuring follow-up rewriting (`rag eval-chat`) on conversations such as data/conversations.jsonl.

Each follow-up of a conversation is rewritten by each rewriter against the gold history (the earlier turns'
standalone questions and answers), so every rewriter sees the same history. A rewrite counts as resolved when
it contains every phrase the turn `must` have ("Harbor Valley Light Railway") and adds no word that neither
the typed follow-up nor the gold standalone question has (possessives and case aside). With an index, each
rewrite is also retrieved: recall@k of the turn's gold documents, beside the typed follow-up (the floor) and
the gold standalone question (the ceiling).

One conversation a line: {"id", "split"?, "turns": [{"question", "answer", "gold_doc_ids",
"standalone"? and "must"? (follow-ups only)}]}.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eval.datasets import read_jsonl
from eval.metrics import aggregate, recall_at_k
from eval.report import fmt, md_table
from rag.chat import Exchange, Rewriter
from rag.errors import InputError

TYPED, GOLD = "typed", "gold"
Search = Callable[[str], list[str]]


def load_conversations(path: Path) -> list[dict[str, Any]]:
    """The conversations of a file; a follow-up without `standalone` or `must` is an error naming it."""
    conversations = list(read_jsonl(path))
    for conversation in conversations:
        for number, turn in enumerate(conversation.get("turns", ())[1:], start=2):
            if "standalone" not in turn or "must" not in turn:
                name = conversation.get("id")
                raise InputError(f"{path}: conversation {name} turn {number} needs standalone and must")
    return conversations


def content_words(text: str) -> set[str]:
    words = (w.lower().removesuffix("'s").rstrip("'") for w in re.findall(r"[\w'-]+", text))
    return {w for w in words if w not in {"the", "of", "a", "an"}}


def resolved(rewrite: str, turn: dict[str, Any]) -> bool:
    """Every `must` phrase present (case aside) and no word added beyond the typed and the gold question."""
    lowered = " ".join(rewrite.lower().split())
    added = content_words(rewrite) - content_words(turn["standalone"]) - content_words(turn["question"])
    return all(" ".join(m.lower().split()) in lowered for m in turn["must"]) and not added


def measure(
    conversations: Sequence[dict[str, Any]], rewriters: dict[str, Rewriter], search: Search | None, k: int
) -> list[dict[str, Any]]:
    """One row per follow-up: each rewriter's rewrite, whether it resolved, its seconds and, with `search`,
    recall@k of the gold documents (also for the typed and the gold question)."""
    rows = []
    for conversation in conversations:
        turns = conversation["turns"]
        history = [Exchange(turns[0]["question"], turns[0].get("answer", ""))]
        for turn in turns[1:]:
            row: dict[str, Any] = {
                "conversation": conversation["id"],
                "split": conversation.get("split", "all"),
                "question": turn["question"],
                "standalone": turn["standalone"],
                "rewrites": {},
            }
            asked = {TYPED: turn["question"], GOLD: turn["standalone"]}
            for name, rewriter in rewriters.items():
                started = time.perf_counter()
                asked[name] = rewriter.rewrite(turn["question"], history)
                row["rewrites"][name] = {
                    "text": asked[name],
                    "resolved": resolved(asked[name], turn),
                    "seconds": round(time.perf_counter() - started, 3),
                }
            if search is not None:
                row["recall"] = {n: recall_at_k(search(q), turn["gold_doc_ids"], k) for n, q in asked.items()}
            rows.append(row)
            history.append(Exchange(turn["standalone"], turn.get("answer", "")))
    return rows


def summarize(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """Per split and over all: each rewriter's resolved share and mean seconds, and recall@k of every
    question kind, with 95% bootstrap intervals."""
    splits = [*sorted({r["split"] for r in rows}), "all"]
    summary: dict[str, Any] = {}
    for split in splits:
        chosen = [r for r in rows if split in ("all", r["split"])]
        entry: dict[str, Any] = {"follow_ups": len(chosen)}
        for name in names:
            entry[f"resolved.{name}"] = aggregate(float(r["rewrites"][name]["resolved"]) for r in chosen).to_dict()
            entry[f"seconds.{name}"] = round(sum(r["rewrites"][name]["seconds"] for r in chosen) / len(chosen), 3)
        for kind in (TYPED, *names, GOLD):
            if all("recall" in r for r in chosen):
                entry[f"recall.{kind}"] = aggregate(r["recall"][kind] for r in chosen).to_dict()
        summary[split] = entry
    return summary


def table(summary: dict[str, Any], names: Sequence[str], k: int) -> str:
    """The summary as a markdown table: one row per split."""
    header = ["split", "follow-ups", *(f"resolved: {n}" for n in names)]
    kinds = [kind for kind in (TYPED, *names, GOLD) if f"recall.{kind}" in summary["all"]]
    header += [f"recall@{k}: {kind}" for kind in kinds]
    rows = []
    for split, entry in summary.items():
        cells = [split, str(entry["follow_ups"])]
        cells += [fmt(entry[f"resolved.{n}"]["value"], 2) for n in names]
        cells += [fmt(entry[f"recall.{kind}"]["value"], 2) for kind in kinds]
        rows.append(cells)
    return "\n".join(md_table(header, rows)) + "\n"


def write_run(out: Path, rows: Sequence[dict[str, Any]], summary: dict[str, Any], markdown: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "rows.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "table.md").write_text(markdown, encoding="utf-8")
