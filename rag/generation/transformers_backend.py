"""A Hugging Face transformers generator: any causal LM in a local directory or the offline hub cache.

The tokenizer's chat template formats the messages when it has one; otherwise a plain "system, user,
Answer:" layout is used. Temperature 0 (the default) decodes greedily, so answers are deterministic. Runs on
CUDA when available, else CPU. stream() yields text as it is decoded (TextIteratorStreamer).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import cached_property, lru_cache
from typing import Any

from rag.config import Settings
from rag.errors import ModelNotFoundError
from rag.generation.base import Prompt
from rag.models import force_offline, resolve_model


@lru_cache(maxsize=2)
def load_causal_lm(location: str) -> tuple[Any, Any, str]:
    """(model, tokenizer, device) for a local directory or cached hub id, loaded once per process."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(location)
    model = AutoModelForCausalLM.from_pretrained(location).to(device).eval()
    return model, tokenizer, device


def plain_layout(prompt: Prompt) -> str:
    """The prompt as text for tokenizers without a chat template."""
    parts = [prompt.system, prompt.user, "Answer:"] if prompt.system else [prompt.user, "Answer:"]
    return "\n\n".join(parts)


class TransformersGenerator:
    """Chat generation with AutoModelForCausalLM; one request at a time per generator."""

    name = "transformers"
    # Same default as llamacpp: small instruct models (SmolLM2 family) follow user-message instructions better.
    instructions_in_system = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.context_tokens = settings.context_tokens
        self._lock = threading.Lock()

    @cached_property
    def _loaded(self) -> tuple[Any, Any, str]:
        force_offline()
        location = resolve_model("model", self.settings.model)
        if location.endswith(".gguf"):
            raise ModelNotFoundError("model", self.settings.model, "a GGUF file needs backend=llamacpp")
        try:
            return load_causal_lm(location)
        except (OSError, ValueError, KeyError) as error:
            detail = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ModelNotFoundError("model", self.settings.model, detail) from None

    def warm_up(self) -> None:
        _ = self._loaded

    @property
    def model(self) -> Any:
        return self._loaded[0]

    @property
    def tokenizer(self) -> Any:
        return self._loaded[1]

    @property
    def device(self) -> str:
        return self._loaded[2]

    def _inputs(self, prompt: Prompt) -> dict[str, Any]:
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(prompt.messages(), tokenize=False, add_generation_prompt=True)
            encoded = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)
        else:
            encoded = self.tokenizer(plain_layout(prompt), return_tensors="pt")
        return {k: v.to(self.device) for k, v in encoded.items() if k in ("input_ids", "attention_mask")}

    def _generation_args(self, inputs: dict[str, Any]) -> dict[str, Any]:
        import torch

        sample = self.settings.temperature > 0
        if sample:
            torch.manual_seed(self.settings.seed)
        pad = self.tokenizer.pad_token_id
        args: dict[str, Any] = {
            **inputs,
            "max_new_tokens": self.settings.max_tokens,
            "do_sample": sample,
            "pad_token_id": pad if pad is not None else self.tokenizer.eos_token_id,
        }
        if sample:
            args["temperature"] = self.settings.temperature
        else:  # silence warnings about sampling parameters the model's generation_config may set
            args.update(temperature=None, top_p=None, top_k=None)
        return args

    def generate(self, prompt: Prompt) -> str:
        import torch

        inputs = self._inputs(prompt)
        with self._lock, torch.inference_mode():
            output = self.model.generate(**self._generation_args(inputs))
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True)

    def stream(self, prompt: Prompt) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        args = {**self._generation_args(self._inputs(prompt)), "streamer": streamer}

        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**args)
            except BaseException as error:  # handed to the consumer below; end the stream so it cannot hang
                failure.append(error)
                streamer.end()

        with self._lock:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            yield from (piece for piece in streamer if piece)
            worker.join()
        if failure:
            raise failure[0]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))
