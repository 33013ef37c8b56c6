"""The default generator: a GGUF model run in-process by llama.cpp (llama-cpp-python), CPU friendly.

`settings.model` is the packaged default name ("smollm2-135m-instruct") or a path to any GGUF file. The chat
template stored in the GGUF formats the messages; temperature 0 (the default) decodes greedily, so the same
prompt always gives the same answer. Loaded models are cached per (file, context, threads, seed).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import ModelNotFoundError, RagError
from rag.generation.base import Prompt
from rag.models import resolve_model

GGUF_MAGIC = b"GGUF"


def gguf_path(value: str) -> str:
    """The GGUF file a `model` setting names, or a one-line error naming the setting."""
    path = Path(resolve_model("model", value))
    if not path.is_file():
        raise ModelNotFoundError("model", value, "no such GGUF file")
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise ModelNotFoundError("model", value, "not a GGUF file")
    return str(path)


@lru_cache(maxsize=8)
def compiled_grammar(gbnf: str) -> Any:
    """A GBNF grammar compiled for llama.cpp; a one-line error when it does not parse."""
    from llama_cpp import LlamaGrammar

    try:
        return LlamaGrammar.from_string(gbnf, verbose=False)
    except ValueError as error:
        raise RagError(f"the generation grammar does not parse: {error}") from None


@lru_cache(maxsize=4)
def load_llama(path: str, n_ctx: int, n_threads: int, seed: int, batch: int, flash_attention: bool) -> Any:
    """A llama_cpp.Llama for the file, loaded once per process and configuration."""
    from llama_cpp import Llama

    return Llama(
        model_path=path,
        n_ctx=n_ctx,
        n_threads=n_threads,
        seed=seed,
        n_batch=batch,
        n_ubatch=batch,
        flash_attn=flash_attention,
        verbose=False,
    )


class LlamaCppGenerator:
    """Chat completion with a local GGUF model; thread safe (one request at a time per model)."""

    name = "llamacpp"
    # Measured with SmolLM2-135M (see rag.generation.prompt): instructions in the user message work better.
    instructions_in_system = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.context_tokens = settings.context_tokens
        self._lock = threading.Lock()

    @cached_property
    def path(self) -> str:
        return gguf_path(self.settings.model)

    @cached_property
    def llm(self) -> Any:
        settings = self.settings
        threads = settings.threads or os.cpu_count() or 1
        try:
            return load_llama(
                self.path,
                settings.context_tokens,
                threads,
                settings.seed,
                settings.prompt_batch,
                settings.flash_attention,
            )
        except (ValueError, RuntimeError, OSError) as error:
            raise ModelNotFoundError("model", settings.model, f"llama.cpp could not load it: {error}") from None

    def warm_up(self) -> None:
        _ = self.llm

    def _completion(self, prompt: Prompt, stream: bool) -> Any:
        # Forget the KV cache: llama-cpp-python otherwise reuses the cached prompt prefix and re-evaluates only
        # the last token, whose logits then differ in the last bits from a full batch evaluation, so a repeated
        # prompt could give a different greedy answer. Re-reading the prompt costs little and keeps answers
        # reproducible.
        self.llm.reset()
        return self.llm.create_chat_completion(
            messages=prompt.messages(),
            temperature=self.settings.temperature,
            seed=self.settings.seed,
            max_tokens=self.settings.max_tokens,
            stream=stream,
            grammar=compiled_grammar(prompt.grammar) if prompt.grammar else None,
        )

    def generate(self, prompt: Prompt) -> str:
        with self._lock:
            result = self._completion(prompt, stream=False)
        return result["choices"][0]["message"].get("content") or ""

    def stream(self, prompt: Prompt) -> Iterator[str]:
        with self._lock:
            for chunk in self._completion(prompt, stream=True):
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
