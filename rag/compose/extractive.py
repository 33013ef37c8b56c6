"""Composition "extractive": the source sentence that best answers the question is quoted word for word, with
its citation; nothing is generated. It abstains, naming the closest sentences, when no sentence answers."""

from __future__ import annotations

from collections.abc import Iterator

from rag.compose.base import Event, Job, extractive_answer


def compose_extractive(job: Job) -> Iterator[Event]:
    yield "passages", list(job.passages)
    yield "stage", "select"
    yield "composed", extractive_answer(job, job.passages)
