"""The generator interface every LLM backend implements, and the registry that picks one by name."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rag.config import Settings
from rag.registry import Registry


@dataclass(frozen=True, slots=True)
class Prompt:
    """A chat prompt: instructions, the numbered sources and the question.

    `system` may be empty: backends whose models ignore the system role get all instructions in `user`.
    """

    system: str
    user: str

    def messages(self) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": self.system}] if self.system else []
        return [*messages, {"role": "user", "content": self.user}]


@runtime_checkable
class Generator(Protocol):
    """An LLM that answers a Prompt, whole or streamed, and counts tokens in its own tokenizer."""

    name: str
    context_tokens: int

    def generate(self, prompt: Prompt) -> str: ...

    def stream(self, prompt: Prompt) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int: ...


GENERATORS: Registry[Generator] = Registry("backend")


def load_generator(settings: Settings) -> Generator:
    """Build the configured backend (registering the built-in ones on first use)."""
    import rag.generation.backends  # noqa: F401  (registers the built-in backends)

    return GENERATORS.create(settings.backend, settings)
