"""Human-readable rendering of an Answer in the terminal (rich): the answer with each sentence's support, the
sources with their quotes, the withheld sentences on request, and for an abstention its reason and the closest
source sentences."""

from __future__ import annotations

from typing import Any

from rag.records import Answer, Citation, Sentence

TITLES = {
    "extractive": "Extractive answer (quoted from the sources)",
    "quote": "Answer (quoted, then answered from the quote)",
}


def show_answer(answer: Answer, console: Any, show_removed: bool = False) -> None:
    from rich.panel import Panel
    from rich.text import Text

    body = Text()
    if answer.abstained:
        body.append("The corpus does not say.\n", style="bold yellow")
        body.append(f"Reason: {answer.abstain_reason}", style="yellow")
    else:
        for sentence in answer.sentences:
            body.append_text(sentence_text(sentence))
            body.append(" ")
    console.print(Panel(body, title=panel_title(answer)))
    console.print(_summary(answer, show_removed), style="dim")
    cited = {c.n: c for s in answer.sentences for c in s.citations}
    for n, passage in enumerate(answer.passages, start=1):
        chunk = passage.chunk
        where = f", p. {chunk.page}" if chunk.page else ""
        line = Text(f"[{n}] ", style="bold cyan")
        line.append(f"{chunk.title or chunk.doc_id} ({chunk.doc_id}{where})")
        if n in cited:
            line.append(f"\n    {quote_line(cited[n])}", style="green")
        console.print(line)
    for sentence in answer.sentences:
        if not sentence.supported:
            console.print(Text(f"unsupported: {sentence.text} (support {sentence.verdict.support:.2f})", style="red"))
    if show_removed:
        for sentence in answer.removed_sentences:
            console.print(Text(f"withheld: {sentence.text} (support {sentence.verdict.support:.2f})", style="red"))
    if answer.abstained and answer.closest:
        console.print(Text("Closest source sentences (none answers the question well enough):", style="yellow"))
        for citation in answer.closest:
            console.print(Text(f"  [{citation.n}] {quote_line(citation, 'answer score')}", style="yellow"))


def panel_title(answer: Answer) -> str:
    if answer.abstained:
        return "No answer"
    return TITLES["extractive"] if answer.extractive else TITLES.get(answer.composition, "Answer")


def sentence_text(sentence: Sentence) -> Any:
    """A shown sentence with its citation markers and its support score."""
    from rich.text import Text

    text = Text(sentence.text + " ", style="" if sentence.supported else "red strike")
    for n in dict.fromkeys(c.n for c in sentence.citations):
        text.append(f"[{n}]", style="bold cyan")
    label = "quoted" if sentence.verdict.status == "quoted" else f"support {sentence.verdict.support:.2f}"
    text.append(f" ({label})", style="dim")
    return text


def quote_line(citation: Citation, score: str = "support") -> str:
    return f'"{citation.quote}" (chars {citation.start}-{citation.end}, {score} {citation.support:.2f})'


def _summary(answer: Answer, show_removed: bool) -> str:
    kept = sum(s.supported for s in answer.sentences)
    parts = [f"policy {answer.policy}", f"composition {answer.composition}", f"{kept} supported sentence(s)"]
    if answer.removed:
        hint = "" if show_removed else " (--show-removed lists them)"
        parts.append(f"{answer.removed} unsupported removed{hint}")
    parts.append(" · ".join(f"{k} {v:.2f}s" for k, v in answer.timings.items()))
    return ", ".join(parts)
