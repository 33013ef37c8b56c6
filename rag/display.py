"""Human-readable rendering of an Answer in the terminal (rich): answer, sources with quotes, verdicts."""

from __future__ import annotations

from typing import Any

from rag.records import Answer


def show_answer(answer: Answer, console: Any) -> None:
    from rich.panel import Panel
    from rich.text import Text

    body = Text()
    if answer.abstained:
        body.append("The corpus does not say.\n", style="bold yellow")
        body.append(f"Reason: {answer.abstain_reason}", style="yellow")
    else:
        for sentence in answer.sentences:
            style = "" if sentence.supported else "red strike"
            body.append(sentence.text + " ", style=style)
            for n in dict.fromkeys(c.n for c in sentence.citations):
                body.append(f"[{n}]", style="bold cyan")
            body.append(" ")
    title = "Extractive answer (quoted from the sources)" if answer.extractive else "Answer"
    console.print(Panel(body, title=title))
    console.print(_summary(answer), style="dim")
    cited = {c.n: c for s in answer.sentences for c in s.citations}
    for n, passage in enumerate(answer.passages, start=1):
        chunk = passage.chunk
        where = f", p. {chunk.page}" if chunk.page else ""
        line = Text(f"[{n}] ", style="bold cyan")
        line.append(f"{chunk.title or chunk.doc_id} ({chunk.doc_id}{where})")
        if n in cited:
            c = cited[n]
            line.append(f'\n    "{c.quote}" (chars {c.start}-{c.end}, support {c.support:.2f})', style="green")
        console.print(line)
    unsupported = [s for s in answer.sentences if not s.supported]
    for sentence in unsupported:
        console.print(Text(f"unsupported: {sentence.text} (support {sentence.verdict.support:.2f})", style="red"))


def _summary(answer: Answer) -> str:
    kept = sum(s.supported for s in answer.sentences)
    parts = [f"policy {answer.policy}", f"{kept} supported sentence(s)"]
    if answer.removed:
        parts.append(f"{answer.removed} unsupported removed")
    parts.append(" · ".join(f"{k} {v:.2f}s" for k, v in answer.timings.items()))
    return ", ".join(parts)
