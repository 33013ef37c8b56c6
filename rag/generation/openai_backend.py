"""A generator for any OpenAI-compatible chat endpoint (OpenAI, llama.cpp server, vLLM, Ollama, ...).

settings.base_url is the endpoint (None: api.openai.com), settings.model the model name it serves, and the
API key is read from the environment variable named by settings.api_key_env (see rag.endpoints). Token counts
are an approximation (about 4 characters per token, see `count_tokens`) because the endpoint's tokenizer is
not available locally. Network and HTTP errors become one-line RagErrors naming the setting to change.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any

from rag.config import Settings
from rag.endpoints import OPENAI_URL, endpoint_error, openai_client
from rag.generation.base import Prompt

CHARS_PER_TOKEN = 4


class OpenAIGenerator:
    """Chat completions over HTTP with the `openai` client; streaming with stream=True."""

    name = "openai"
    # Served models are usually larger instruct models that honour the system role.
    instructions_in_system = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.context_tokens = settings.context_tokens
        self.endpoint = settings.base_url or OPENAI_URL

    def warm_up(self) -> None:
        _ = self.client

    @cached_property
    def client(self) -> Any:
        return openai_client(self.settings.base_url, self.settings.api_key_env)

    def _create(self, prompt: Prompt, stream: bool) -> Any:
        return self.client.chat.completions.create(
            model=self.settings.model,
            messages=prompt.messages(),
            temperature=self.settings.temperature,
            seed=self.settings.seed,
            max_tokens=self.settings.max_tokens,
            stream=stream,
        )

    def generate(self, prompt: Prompt) -> str:
        import openai

        try:
            response = self._create(prompt, stream=False)
        except openai.OpenAIError as error:
            raise endpoint_error(error, self.endpoint) from None
        return response.choices[0].message.content or ""

    def stream(self, prompt: Prompt) -> Iterator[str]:
        import openai

        try:
            for chunk in self._create(prompt, stream=True):
                piece = chunk.choices[0].delta.content if chunk.choices else None
                if piece:
                    yield piece
        except openai.OpenAIError as error:
            raise endpoint_error(error, self.endpoint) from None

    def count_tokens(self, text: str) -> int:
        """Approximate: len(text) // 4 + 1, an over-estimate for English with BPE tokenizers in most cases."""
        return len(text) // CHARS_PER_TOKEN + 1
