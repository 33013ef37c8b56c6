"""The answering pipeline: retrieve -> generate -> verify, with every model loaded once and reused.

    from rag import Pipeline
    answer = Pipeline.from_index("indexes/sample").ask("When did the railway open?")
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import InputError
from rag.records import Passage


class Pipeline:
    """One index, one embedder, one generator and one verifier, shared by every question."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        return cls(settings)

    @classmethod
    def from_index(cls, index: str | Path, **overrides: Any) -> Pipeline:
        return cls(Settings().with_overrides(index=Path(index), **overrides))

    @cached_property
    def embedder(self) -> Any:
        from ingest.embedding import Embedder

        return Embedder(self.settings.embedder, self.settings.embed_batch_size, self.settings.threads)

    @cached_property
    def index(self) -> Any:
        from ingest.index import Index

        return Index.open(self.settings.index, embedder=self.settings.embedder)

    @cached_property
    def retriever(self) -> Any:
        from rag.retrieval.retriever import Retriever

        return Retriever(self.index, self.embedder, self.settings)

    def check_question(self, question: str) -> str:
        question = question.strip()
        if not question:
            raise InputError("the question is empty")
        if len(question) > self.settings.max_question_chars:
            raise InputError(
                f"the question has {len(question)} characters; the limit is {self.settings.max_question_chars} "
                "(setting max_question_chars)"
            )
        return question

    def search(self, query: str, k: int | None = None, mode: str | None = None) -> list[Passage]:
        return self.retriever.retrieve(self.check_question(query), k=k, mode=mode)
