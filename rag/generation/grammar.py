"""GBNF grammars that constrain what the generator may write (llama.cpp applies them token by token):

- `cited_grammar(n)`: every sentence ends with a citation [1]..[n], or the whole reply is the refusal;
- `quote_grammar(passages)`: the reply copies one sentence of the sources word for word, with its source number,
  then may add one short answer sentence ending in a citation; or it is the refusal.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.records import Passage

REFUSAL = "The sources do not contain the answer."
QUOTE_PREFIX = 'Quote: "'
ANSWER_PREFIX = "Answer: "
MAX_SENTENCES = 6


def literal(text: str) -> str:
    """`text` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def citation_rule(n_sources: int) -> str:
    return "citation ::= " + " | ".join(literal(f"[{n}]") for n in range(1, max(n_sources, 1) + 1))


def cited_grammar(n_sources: int) -> str:
    """Up to MAX_SENTENCES sentences, each one ending with a source citation; or exactly the refusal."""
    return "\n".join(
        (
            f'root ::= refusal | sentence (" " sentence){{0,{MAX_SENTENCES - 1}}}',
            f"refusal ::= {literal(REFUSAL)}",
            'sentence ::= [^\\[\\]\\n]{8,400} " "? citation "."?',
            citation_rule(n_sources),
        )
    )


def quote_grammar(passages: Sequence[Passage]) -> str:
    """A quote that is exactly one source sentence with its number, then an optional answer; or the refusal."""
    spans = [(n, span) for n, passage in enumerate(passages, start=1) for span in passage.chunk.sentences]
    quotes = [literal(f'{span.text}" [{n}]') for n, span in spans]
    return "\n".join(
        (
            "root ::= refusal | quoted",
            f"refusal ::= {literal(REFUSAL)}",
            f'quoted ::= {literal(QUOTE_PREFIX)} quote ("\\n" {literal(ANSWER_PREFIX)} answer)?',
            "quote ::= " + (" | ".join(quotes) if quotes else literal('" [1]')),
            'answer ::= [^\\[\\]\\n]{3,300} " "? citation "."?',
            citation_rule(len(passages)),
        )
    )
