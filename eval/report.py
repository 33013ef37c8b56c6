"""Human-readable reports of an evaluation run: report.md and a self-contained report.html.

Both show every metric with its 95% bootstrap CI, raw generator vs verified answer side by side (what
verification bought), run settings and counts, and the worst items with their unsupported sentences
highlighted. report.html embeds its plots as base64 PNGs (matplotlib, Agg backend): metric bars with CIs,
raw vs verified bars, and the histogram of each answer sentence's best support score with the threshold.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

WORST_ITEMS = 10
QUALITY_KEYS = ("answer.correct", "answer.f1", "citation.recall")
# metrics the project's own verifier decides about its own output: labelled so in every report
SELF_JUDGED = ("faithfulness.verifier", "citation.recall", "citation.precision")
RAW_PREFIX = "raw."
# the answers an item record may hold, each with its sentences: the generator's, the verified one, or another
# system's (eval.external)
ANSWER_VARIANTS = ("raw", "verified", "external")


def label(name: str) -> str:
    """A metric's name as reports show it: the verifier's view of its own output says so."""
    return f"{name} (the verifier's own view)" if name in SELF_JUDGED else name


def metric_rows(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, {value, ci_low, ci_high, n}) for every metric entry of a summary, in its order."""
    return [(k, v) for k, v in summary.items() if isinstance(v, dict) and "value" in v and "n" in v]


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_ci(entry: dict[str, Any]) -> str:
    """A metric entry's 95% CI as "[ci_low, ci_high]" ("–" when there is none)."""
    if entry.get("ci_low") is None:
        return "–"
    return f"[{fmt(entry['ci_low'])}, {fmt(entry['ci_high'])}]"


def fmt_value_ci(entry: dict[str, Any]) -> str:
    """ "value [ci_low, ci_high]", or "–" for a metric that was not measured."""
    return "–" if entry.get("value") is None else f"{fmt(entry['value'])} {fmt_ci(entry)}"


def raw_vs_verified(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(metric, verified entry, raw entry) for every metric measured on both answers."""
    return [(k, v, summary[RAW_PREFIX + k]) for k, v in metric_rows(summary) if RAW_PREFIX + k in summary]


def worst_items(records: Sequence[dict[str, Any]], count: int = WORST_ITEMS) -> list[dict[str, Any]]:
    """Items with the lowest mean of the quality metrics they have (retrieval MRR in retrieval-only runs)."""

    def badness(record: dict[str, Any]) -> float:
        metrics = record.get("metrics", {})
        keys = QUALITY_KEYS if "answer" in record else ("retrieval.mrr",)
        values = [metrics[k] for k in keys if metrics.get(k) is not None]
        return sum(values) / len(values) if values else 1.0

    ranked = sorted((r for r in records if not r.get("error")), key=badness)
    return [r for r in ranked if badness(r) < 1.0][:count]


# ---------------------------------------------------------------------------------------------- plots


def _png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _errors(entry: dict[str, Any]) -> tuple[float, float]:
    """Distances from the value down to ci_low and up to ci_high (0 where there is no CI)."""
    value = entry["value"] or 0.0
    if entry["ci_low"] is None:
        return 0.0, 0.0
    return max(0.0, value - entry["ci_low"]), max(0.0, entry["ci_high"] - value)


def _bars(axis: Any, entries: Sequence[dict[str, Any]], offset: float, label: str) -> None:
    errors = [_errors(e) for e in entries]
    axis.barh(
        [i + offset for i in range(len(entries))],
        [e["value"] or 0.0 for e in entries],
        height=0.4,
        xerr=[[low for low, _ in errors], [high for _, high in errors]],
        capsize=3,
        label=label,
    )


def metric_plot(summary: dict[str, Any]) -> str | None:
    """Horizontal bars of every verified/retrieval metric with its CI."""
    rows = [(k, v) for k, v in metric_rows(summary) if not k.startswith(RAW_PREFIX) and v["value"] is not None]
    if not rows:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 0.35 * len(rows) + 1))
    _bars(axis, [v for _, v in rows], 0.0, "value")
    axis.set_yticks(range(len(rows)), [k for k, _ in rows])
    axis.invert_yaxis()
    axis.set_xlim(0, 1.05)
    axis.set_title("Metrics with 95% bootstrap CI")
    return _png(figure)


def raw_vs_verified_plot(summary: dict[str, Any]) -> str | None:
    rows = [(k, v, r) for k, v, r in raw_vs_verified(summary) if v["value"] is not None or r["value"] is not None]
    if not rows:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 0.5 * len(rows) + 1))
    _bars(axis, [r for _, _, r in rows], -0.2, "raw generator")
    _bars(axis, [v for _, v, _ in rows], 0.2, "verified")
    axis.set_yticks(range(len(rows)), [k for k, _, _ in rows])
    axis.invert_yaxis()
    axis.set_xlim(0, 1.05)
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2)
    axis.set_title("Raw generator vs verified answer")
    return _png(figure)


def support_histogram(records: Sequence[dict[str, Any]]) -> str | None:
    """Best support score of every raw-answer sentence (another system's answer sentence), with the scorer's
    threshold."""
    scores = [s["support"] for r in records for s in (r.get("raw") or r.get("external") or {}).get("sentences", ())]
    if not scores:
        return None
    threshold = next((r["threshold"] for r in records if "threshold" in r), None)
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 3))
    axis.hist(scores, bins=20, range=(0, 1), color="#4c72b0")
    if threshold is not None:
        axis.axvline(threshold, color="#c44e52", linestyle="--", label=f"threshold {threshold:.2f}")
        axis.legend()
    axis.set_xlabel("best support score over retrieved passages")
    axis.set_ylabel("raw answer sentences")
    return _png(figure)


# ---------------------------------------------------------------------------------------------- markdown


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]


def _md_sentences(sentences: Sequence[dict[str, Any]]) -> str:
    parts = []
    for s in sentences:
        cites = "".join(f"[{n}]" for n in s["citations"])
        text = f"{s['text']}{cites}"
        parts.append(text if s["supported"] else f"**~~{text}~~** (support {s['support']:.2f})")
    return " ".join(parts) or "_(abstained)_"


def markdown(summary: dict[str, Any], records: Sequence[dict[str, Any]]) -> str:
    run, counts = summary["run"], summary["counts"]
    lines = [f"# Evaluation report: {run['dataset']}", "", describe_run(summary), ""]
    lines += ["## Metrics (mean, 95% bootstrap CI, n items)", ""]
    rows = [(label(k), fmt_value_ci(v), str(v["n"])) for k, v in metric_rows(summary)]
    lines += md_table(("metric", "value [95% CI]", "n"), rows)
    pairs = raw_vs_verified(summary)
    if pairs:
        lines += ["", "## What verification bought (raw generator → verified)", ""]
        lines += md_table(
            ("metric", "raw", "verified", "Δ"),
            [(k, fmt(r["value"]), fmt(v["value"]), _delta(r["value"], v["value"])) for k, v, r in pairs],
        )
    lines += ["", f"Ragas judge outcomes: {counts['ragas_status']}"]
    missed = summary.get("fail_under", {}).get("missed", [])
    if missed:
        lines += ["", "## Thresholds missed", "", *(f"- {m}" for m in missed)]
    lines += ["", "## Worst items", ""]
    for record in worst_items(records):
        lines += _md_item(record)
    return "\n".join(lines) + "\n"


def describe_run(summary: dict[str, Any]) -> str:
    """One paragraph: the items and what answered and judged them (another system's answers: `run.answers`)."""
    run, counts = summary["run"], summary["counts"]
    items = (
        f"{counts['items']} items ({counts['answerable']} answerable, {counts['unanswerable']} unanswerable), "
        f"{counts['errors']} errors, {counts['reused_from_cache']} reused from cache."
    )
    judged = f"Judge: {run['judge']}; scorer {run['scorer']} (threshold {fmt(run.get('effective_threshold'), 2)})"
    if "answers" in run:
        return f"{items} Answers of another system, read from {run['answers']}. {judged}."
    return (
        f"{items} {judged}; policy {run['policy']}; model {run['model']} ({run['backend']}); top_k {run['top_k']}; "
        f"retrieval {run['retrieval_mode']}."
    )


def _delta(before: float | None, after: float | None) -> str:
    return "–" if before is None or after is None else f"{after - before:+.3f}"


def _md_item(record: dict[str, Any]) -> list[str]:
    metrics = ", ".join(f"{k} {fmt(v)}" for k, v in record["metrics"].items() if v is not None)
    lines = [f"### {record['id']}: {record['question']}", "", f"Gold: {record['answers'] or '(unanswerable)'}", ""]
    for name in ANSWER_VARIANTS:
        if name in record:
            lines += [f"- {name}: {_md_sentences(record[name]['sentences'])}"]
    lines += [f"- retrieved: {', '.join(p['doc_id'] for p in record.get('retrieved', []))}", f"- {metrics}", ""]
    return lines


# ---------------------------------------------------------------------------------------------- html

STYLE = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}mark.bad{background:#f8c4c4;text-decoration:line-through}
.item{border-top:1px solid #ddd;margin-top:1em}.muted{color:#777}img{max-width:100%}"""


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html_sentences(sentences: Sequence[dict[str, Any]]) -> str:
    parts = []
    for s in sentences:
        text = html.escape(s["text"] + "".join(f"[{n}]" for n in s["citations"]))
        title = f"support {s['support']:.2f}"
        parts.append(
            f'<span title="{title}">{text}</span>'
            if s["supported"]
            else f'<mark class="bad" title="{title}">{text}</mark>'
        )
    return " ".join(parts) or '<span class="muted">(abstained)</span>'


def _html_item(record: dict[str, Any]) -> str:
    metrics = ", ".join(f"{k} {fmt(v)}" for k, v in record["metrics"].items() if v is not None)
    parts = [
        f"<div class='item'><h3>{html.escape(record['id'])}: {html.escape(record['question'])}</h3>",
        f"<p>Gold: {html.escape(str(record['answers'] or '(unanswerable)'))}</p>",
    ]
    for name in ANSWER_VARIANTS:
        if name in record:
            parts.append(f"<p><b>{name}</b>: {_html_sentences(record[name]['sentences'])}</p>")
    retrieved = ", ".join(p["doc_id"] for p in record.get("retrieved", []))
    parts.append(f"<p class='muted'>retrieved: {html.escape(retrieved)}<br>{html.escape(metrics)}</p></div>")
    return "".join(parts)


def html_report(summary: dict[str, Any], records: Sequence[dict[str, Any]]) -> str:
    run, counts = summary["run"], summary["counts"]
    images = [metric_plot(summary), raw_vs_verified_plot(summary), support_histogram(records)]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Evaluation report</title><style>{STYLE}</style>",
        f"</head><body><h1>Evaluation report: {html.escape(run['dataset'])}</h1>",
        f"<p>{html.escape(describe_run(summary))}</p>",
        _html_table(
            ("metric", "value [95% CI]", "n"), [(k, fmt_value_ci(v), str(v["n"])) for k, v in metric_rows(summary)]
        ),
    ]
    pairs = raw_vs_verified(summary)
    if pairs:
        parts.append("<h2>What verification bought</h2>")
        parts.append(
            _html_table(
                ("metric", "raw", "verified", "Δ"),
                [(k, fmt(r["value"]), fmt(v["value"]), _delta(r["value"], v["value"])) for k, v, r in pairs],
            )
        )
    parts += [f"<img alt='plot' src='data:image/png;base64,{image}'>" for image in images if image]
    missed = summary.get("fail_under", {}).get("missed", [])
    if missed:
        parts.append("<h2>Thresholds missed</h2><ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in missed) + "</ul>")
    parts.append(f"<p class='muted'>ragas judge outcomes: {html.escape(str(counts['ragas_status']))}</p>")
    parts.append("<h2>Worst items</h2>" + "".join(_html_item(r) for r in worst_items(records)))
    return "".join(parts) + "</body></html>\n"


def write_reports(out: Path, summary: dict[str, Any], records: Sequence[dict[str, Any]]) -> None:
    """report.md and report.html in `out`."""
    (out / "report.md").write_text(markdown(summary, records), encoding="utf-8")
    (out / "report.html").write_text(html_report(summary, records), encoding="utf-8")
