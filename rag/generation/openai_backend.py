"""A generator for any OpenAI-compatible chat endpoint (OpenAI, llama.cpp server, vLLM, Ollama, ...).

settings.base_url is the endpoint (None: api.openai.com), settings.model the model name it serves, and the
API key is read from the environment variable named by settings.api_key_env; when that is unset a dummy key
is sent, which local servers accept. Token counts are an approximation (about 4 characters per token, see
`count_tokens`) because the endpoint's tokenizer is not available locally. Network and HTTP errors become
one-line RagErrors.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cached_property
from typing import Any

from rag.config import Settings
from rag.errors import RagError
from rag.generation.base import Prompt

DUMMY_API_KEY = "not-needed"
CHARS_PER_TOKEN = 4
TIMEOUT_S = 300.0


class OpenAIGenerator:
    """Chat completions over HTTP with the `openai` client; streaming with stream=True."""

    name = "openai"
    # Served models are usually larger instruct models that honour the system role.
    instructions_in_system = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.context_tokens = settings.context_tokens
        self.endpoint = settings.base_url or "https://api.openai.com/v1"

    def warm_up(self) -> None:
        _ = self.client

    @cached_property
    def client(self) -> Any:
        from openai import OpenAI

        api_key = os.environ.get(self.settings.api_key_env) or DUMMY_API_KEY
        return OpenAI(base_url=self.settings.base_url, api_key=api_key, timeout=TIMEOUT_S, max_retries=1)

    def _create(self, prompt: Prompt, stream: bool) -> Any:
        return self.client.chat.completions.create(
            model=self.settings.model,
            messages=prompt.messages(),
            temperature=self.settings.temperature,
            seed=self.settings.seed,
            max_tokens=self.settings.max_tokens,
            stream=stream,
        )

    def _error(self, error: Exception) -> RagError:
        """A one-line message for a failed request (connection refused, timeout, HTTP error status)."""
        import openai

        if isinstance(error, openai.APIConnectionError):
            cause = error.__cause__ or error
            return RagError(f"cannot reach the endpoint {self.endpoint} ({cause}); check base_url (RAG_BASE_URL)")
        if isinstance(error, openai.APIStatusError):
            message = " ".join(str(error.message).split())[:200]
            return RagError(f"the endpoint {self.endpoint} answered HTTP {error.status_code}: {message}")
        return RagError(f"the endpoint {self.endpoint} failed: {' '.join(str(error).split())[:200]}")

    def generate(self, prompt: Prompt) -> str:
        import openai

        try:
            response = self._create(prompt, stream=False)
        except openai.OpenAIError as error:
            raise self._error(error) from None
        return response.choices[0].message.content or ""

    def stream(self, prompt: Prompt) -> Iterator[str]:
        import openai

        try:
            for chunk in self._create(prompt, stream=True):
                piece = chunk.choices[0].delta.content if chunk.choices else None
                if piece:
                    yield piece
        except openai.OpenAIError as error:
            raise self._error(error) from None

    def count_tokens(self, text: str) -> int:
        """Approximate: len(text) // 4 + 1, an over-estimate for English with BPE tokenizers in most cases."""
        return len(text) // CHARS_PER_TOKEN + 1
