"""Composition "quote" (quote-then-answer, as FRONT does): the generator first copies the source sentence that
answers the question, with its number, then answers from it in one short sentence. A grammar can hold the quote to
the sources' own sentences (setting constrain_output). The quote is shown word for word when it answers the
question (rag.verify.relevance); the answer sentence only when the verifier supports it, at the stricter threshold
for generated sentences."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from rag.compose.base import Composition, Event, Job, closest, extractive_answer, quoted, source_sentence
from rag.generation.grammar import ANSWER_PREFIX, QUOTE_PREFIX, quote_grammar
from rag.generation.prompt import QUOTE_INSTRUCTIONS, build_prompt
from rag.records import Claim, Passage, SentenceSpan
from rag.verify.claims import parse_citations

QUOTED = re.compile(re.escape(QUOTE_PREFIX) + r'(?P<quote>.+?)"\s*\[(?P<n>\d+)\]')
NOT_QUOTED = "the generator quoted no source sentence that answers the question"


def compose_quote(job: Job) -> Iterator[Event]:
    settings = job.settings
    yield "stage", "prompt"
    prompt, passages = build_prompt(
        job.question, job.passages, job.generator, settings.max_tokens, instructions=QUOTE_INSTRUCTIONS
    )
    if settings.constrain_output:
        prompt = prompt.constrained(quote_grammar(passages))
    yield "passages", passages
    yield "stage", "generate"
    pieces: list[str] = []
    for piece in job.generator.stream(prompt):
        pieces.append(piece)
        yield "token", piece
    yield "stage", "verify"
    yield "composed", from_quote(job, passages, "".join(pieces).strip())


def from_quote(job: Job, passages: Sequence[Passage], raw: str) -> Composition:
    """The shown answer made of the generator's quote (when it is a source sentence that answers) and its
    verified answer sentence."""
    found = quoted_span(raw, passages)
    answer = [c for c in parse_citations(answer_text(raw), len(passages)) if c.text]
    draft = ((Claim(found[1].text, (found[0],)),) if found else ()) + tuple(answer)
    if found is not None:
        n, span = found
        candidate = job.answers.judge(job.question, job.vector, n, passages[n - 1], span)
        if job.answers.answers(candidate):
            checked = job.generated_verifier().verify(answer, passages)
            kept = tuple(s for s in checked if s.supported)
            removed = tuple(s for s in checked if not s.supported)
            return Composition(tuple(passages), (quoted(candidate), *kept), removed, raw=raw, draft=draft)
    if job.settings.extractive_fallback:
        fallback = extractive_answer(job, passages, raw, draft)
        if fallback.abstain_reason is None:
            return fallback
    return Composition(tuple(passages), abstain_reason=NOT_QUOTED, raw=raw, draft=draft, closest=closest(job, passages))


def quoted_span(raw: str, passages: Sequence[Passage]) -> tuple[int, SentenceSpan] | None:
    """(n, sentence) of the quote when it is, word for word, a sentence of source n (or of another source)."""
    match = QUOTED.search(raw)
    return None if match is None else source_sentence(match["quote"], passages, spaced, int(match["n"]))


def spaced(text: str) -> str:
    return " ".join(text.split())


def answer_text(raw: str) -> str:
    _, found, after = raw.partition(ANSWER_PREFIX)
    return after.strip() if found else ""
