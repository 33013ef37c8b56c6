"""The generator interface every LLM backend implements; backends are chosen by name (setting `backend`)
from rag.registry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from rag import registry
from rag.config import Settings


@dataclass(frozen=True, slots=True)
class Prompt:
    """A chat prompt: instructions, the numbered sources and the question.

    `system` may be empty: backends whose models ignore the system role get all instructions in `user`.
    `grammar` (GBNF, as llama.cpp reads it) constrains what may be generated; backends that cannot apply one
    ignore it, and the composition strategies check the output either way.
    """

    system: str
    user: str
    grammar: str | None = None

    def constrained(self, grammar: str) -> Prompt:
        return replace(self, grammar=grammar)

    def messages(self) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": self.system}] if self.system else []
        return [*messages, {"role": "user", "content": self.user}]


@runtime_checkable
class Generator(Protocol):
    """An LLM that answers a Prompt, whole or streamed, and counts tokens in its own tokenizer. Building one is
    light; the model loads at `warm_up()` or on first use."""

    name: str
    context_tokens: int

    def warm_up(self) -> None: ...

    def generate(self, prompt: Prompt) -> str: ...

    def stream(self, prompt: Prompt) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int: ...


def load_generator(settings: Settings) -> Generator:
    """The configured backend (setting `backend`), not yet warmed up."""
    return registry.create("backend", settings.backend, settings)
