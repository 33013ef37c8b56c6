"""Composition "free": the generator writes the answer with [n] citations (optionally held to a grammar that ends
every sentence with one); every sentence is verified, re-cited or withheld by the answer policy."""

from __future__ import annotations

from collections.abc import Iterator

from rag.compose.base import Event, Job, verified
from rag.generation.grammar import cited_grammar
from rag.generation.prompt import build_prompt
from rag.verify.claims import draft_claims


def compose_free(job: Job) -> Iterator[Event]:
    settings = job.settings
    yield "stage", "prompt"
    prompt, passages = build_prompt(job.question, job.passages, job.generator, settings.max_tokens)
    if settings.constrain_output:
        prompt = prompt.constrained(cited_grammar(len(passages)))
    yield "passages", passages
    yield "stage", "generate"
    pieces: list[str] = []
    for piece in job.generator.stream(prompt):
        pieces.append(piece)
        yield "token", piece
    raw = "".join(pieces).strip()
    cut_off = job.generator.count_tokens(raw) >= settings.max_tokens - 1
    yield "stage", "verify"
    yield "composed", verified(job, passages, raw, draft_claims(raw, len(passages), cut_off))
