"""Compare two evaluation runs: each metric's value in both, the delta (b - a) and the delta's 95% CI.

When both runs hold per-item values (items.jsonl), the CI is a paired bootstrap over the items both runs
measured (the same questions), which is much tighter than comparing two independent intervals; items present
in one run only are then left out. Without common items the two runs are resampled independently.

    rows = compare_runs(Path("runs/before"), Path("runs/after")); print_comparison(rows)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eval.metrics import paired_delta, present, unpaired_delta
from eval.report import metric_rows
from rag.errors import InputError


def _load(run: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    summary_path = run / "summary.json"
    if not summary_path.is_file():
        raise InputError(f"{run} is not an evaluation run (no summary.json)")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    items_path = run / "items.jsonl"
    items: dict[str, dict[str, Any]] = {}
    if items_path.is_file():
        for line in items_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                if not record.get("error"):
                    items[str(record["id"])] = record.get("metrics", {})
    return summary, items


def _delta(name: str, items_a: dict[str, dict[str, Any]], items_b: dict[str, dict[str, Any]]) -> dict[str, Any]:
    common = [
        i for i in items_a if i in items_b and items_a[i].get(name) is not None and items_b[i].get(name) is not None
    ]
    if common:
        delta = paired_delta([items_a[i][name] for i in common], [items_b[i][name] for i in common])
        return {**delta.to_dict(), "paired": True}
    a = present(m.get(name) for m in items_a.values())
    b = present(m.get(name) for m in items_b.values())
    return {**unpaired_delta(a, b).to_dict(), "paired": False}


def compare_runs(a: Path, b: Path) -> list[dict[str, Any]]:
    """One row per metric either run reports: a, b (means), delta = b - a over the items compared, its 95%
    bootstrap CI (ci_low, ci_high), n items compared, and whether the comparison was paired."""
    summary_a, items_a = _load(a)
    summary_b, items_b = _load(b)
    entries_a, entries_b = dict(metric_rows(summary_a)), dict(metric_rows(summary_b))
    names = list(dict.fromkeys([*entries_a, *entries_b]))
    rows = []
    for name in names:
        delta = _delta(name, items_a, items_b)
        rows.append(
            {
                "metric": name,
                "a": entries_a.get(name, {}).get("value"),
                "b": entries_b.get(name, {}).get("value"),
                "delta": delta["value"],
                "ci_low": delta["ci_low"],
                "ci_high": delta["ci_high"],
                "n": delta["n"],
                "paired": delta["paired"],
            }
        )
    return rows


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def comparison_table(rows: list[dict[str, Any]], a: str = "a", b: str = "b") -> Any:
    """A rich Table of compare_runs rows; deltas whose CI excludes 0 are coloured."""
    from rich.table import Table

    table = Table(title=f"{b} vs {a}")
    for column, justify in (
        ("metric", "left"),
        (a, "right"),
        (b, "right"),
        ("Δ", "right"),
        ("95% CI", "right"),
        ("n", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        low, high = row["ci_low"], row["ci_high"]
        significant = low is not None and (low > 0 or high < 0)
        style = ("green" if low > 0 else "red") if significant else ""
        ci = "–" if low is None else f"[{low:+.3f}, {high:+.3f}]"
        paired = "" if row["paired"] else "*"
        table.add_row(
            row["metric"],
            _num(row["a"]),
            _num(row["b"]),
            _num(row["delta"], True),
            ci,
            f"{row['n']}{paired}",
            style=style,
        )
    table.caption = "Δ = b − a, paired bootstrap over common items (* = unpaired); green/red: CI excludes 0"
    return table


def print_comparison(rows: list[dict[str, Any]], a: str = "a", b: str = "b", console: Any = None) -> None:
    """Print the comparison table (to `console`, a rich Console, or stdout)."""
    from rich.console import Console

    (console or Console()).print(comparison_table(rows, a, b))
