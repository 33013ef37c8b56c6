"""Faithfulness as ragas defines it, computed by ragas itself with a pluggable judge LLM, fully offline.

ragas' Faithfulness (`ragas.metrics.collections.Faithfulness`) asks the judge to split the answer into
statements, then to give each statement a 0/1 verdict against the retrieved contexts; score = supported /
total. The judge plugs in through ragas' own extension points:

- judge "local": `LocalJudgeLLM`, an `InstructorBaseRagasLLM` (the base class ragas' collections metrics
  accept) running the default generator GGUF in-process with llama-cpp-python. Decoding is constrained to the
  JSON schema ragas asks for (llama.cpp grammar), which keeps a small model's JSON well formed; a reply that
  is still unusable (cut off at the token limit, wrong shape) raises JudgeParseError.
- judge "openai": `ragas.llms.llm_factory(settings.model, provider="openai", client=AsyncOpenAI(...))` for any
  OpenAI-compatible endpoint at settings.base_url (key from the env var settings.api_key_env).

Every call returns a RagasOutcome: status "ok" with a score in [0, 1]; "parse_error" when the judge's output
could not be parsed (counted and reported, never turned into NaN); "no_statements" when the judge found no
statement (ragas' NaN case); "error" for any other failure (endpoint down, context overflow); "skipped" for
an empty answer or no contexts. RAGAS_DO_NOT_TRACK=true is set before ragas is imported.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import types
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any, Literal

from rag.config import DEFAULT_GENERATOR, Settings
from rag.errors import InputError

JUDGES = ("none", "local", "openai")
LOCAL_CONTEXT_TOKENS = 8192
JUDGE_MAX_TOKENS = 512
PARSE_ERROR_NAMES = frozenset(
    {"JudgeParseError", "ValidationError", "JSONDecodeError", "InstructorRetryException", "IncompleteOutputException"}
)
Status = Literal["ok", "parse_error", "no_statements", "error", "skipped"]


class JudgeParseError(ValueError):
    """The judge's reply is not JSON of the shape ragas asked for."""

    def __init__(self, message: str, reply: str) -> None:
        super().__init__(f"{message}: {reply[:200]!r}")
        self.reply = reply


@dataclass(frozen=True, slots=True)
class RagasOutcome:
    """ragas faithfulness of one answer: the score (None unless status is "ok") and what happened."""

    score: float | None
    status: Status
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_ragas_faithfulness() -> type:
    """ragas' Faithfulness metric class, imported offline with tracking off.

    ragas 0.3.9-0.4.3 import `langchain_community.chat_models.vertexai`, which current langchain-community no
    longer ships (vibrantlabsai/ragas#2745); ragas only uses the class in an isinstance list, so a placeholder
    module stands in when the real one is missing.
    """
    os.environ["RAGAS_DO_NOT_TRACK"] = "true"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _stub_vertexai()
    from ragas.metrics.collections import Faithfulness

    return Faithfulness


def _stub_vertexai() -> None:
    name = "langchain_community.chat_models.vertexai"
    if name in sys.modules:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            __import__(name)
    except ImportError:
        stub = types.ModuleType(name)
        stub.ChatVertexAI = type("ChatVertexAI", (), {})  # type: ignore[attr-defined]
        sys.modules[name] = stub


def extract_json(text: str) -> str:
    """The JSON object in a reply: code fences and text around the outermost braces removed."""
    text = re.sub(r"```(?:json)?", "", text)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise JudgeParseError("no JSON object in the judge's reply", text)
    return text[start : end + 1]


def parse_reply(text: str, model: type[Any]) -> Any:
    """The reply validated as the pydantic `model`, or JudgeParseError."""
    from pydantic import ValidationError

    body = extract_json(text)
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise JudgeParseError(
            f"judge reply does not match {model.__name__} ({error.error_count()} errors)", text
        ) from None


@cache
def _local_llm_class() -> type:
    """LocalJudgeLLM, built on first use so that importing this module does not import ragas."""
    import_ragas_faithfulness()
    from ragas.llms.base import InstructorBaseRagasLLM

    class LocalJudgeLLM(InstructorBaseRagasLLM):
        """A llama.cpp model as a ragas judge: schema-constrained chat completion, strict parsing."""

        def __init__(self, llama: Any, max_tokens: int = JUDGE_MAX_TOKENS, seed: int = 0) -> None:
            self.llama = llama
            self.max_tokens = max_tokens
            self.seed = seed

        def generate(self, prompt: str, response_model: type[Any]) -> Any:
            reply = self.llama.create_chat_completion(
                messages=[{"role": "user", "content": prompt}],
                temperature=0.0,
                seed=self.seed,
                max_tokens=self.max_tokens,
                response_format={"type": "json_object", "schema": response_model.model_json_schema()},
            )
            return parse_reply(reply["choices"][0]["message"].get("content") or "", response_model)

        async def agenerate(self, prompt: str, response_model: type[Any]) -> Any:
            return self.generate(prompt, response_model)

    return LocalJudgeLLM


def local_judge_llm(settings: Settings) -> Any:
    """The generator's GGUF (settings.model with the llamacpp backend, else the packaged default) as judge."""
    from rag.generation.llamacpp import gguf_path, load_llama

    model = settings.model if settings.backend == "llamacpp" else DEFAULT_GENERATOR
    threads = settings.threads or os.cpu_count() or 1
    llama = load_llama(
        gguf_path(model), LOCAL_CONTEXT_TOKENS, threads, settings.seed, settings.prompt_batch, settings.flash_attention
    )
    return _local_llm_class()(llama, seed=settings.seed)


def openai_judge_llm(settings: Settings) -> Any:
    """ragas' llm_factory over an AsyncOpenAI client for the endpoint at settings.base_url."""
    if not settings.base_url:
        raise InputError("judge openai needs an endpoint: set base_url (env RAG_BASE_URL)")
    import_ragas_faithfulness()
    from openai import AsyncOpenAI
    from ragas.llms import llm_factory

    client = AsyncOpenAI(base_url=settings.base_url, api_key=os.environ.get(settings.api_key_env) or "not-needed")
    return llm_factory(settings.model, provider="openai", client=client, temperature=0.0, max_tokens=JUDGE_MAX_TOKENS)


class RagasJudge:
    """ragas' Faithfulness metric bound to one judge LLM."""

    def __init__(self, llm: Any, name: str) -> None:
        self.name = name
        self.metric = import_ragas_faithfulness()(llm=llm)

    def score(self, question: str, response: str, contexts: Sequence[str]) -> RagasOutcome:
        if not response.strip():
            return RagasOutcome(None, "skipped", "empty answer")
        if not contexts:
            return RagasOutcome(None, "skipped", "no retrieved contexts")
        try:
            value = self.metric.score(user_input=question, response=response, retrieved_contexts=list(contexts)).value
        except Exception as error:  # judges fail in many ways; each is classified and counted, none is hidden
            status: Status = "parse_error" if _is_parse_error(error) else "error"
            return RagasOutcome(None, status, f"{type(error).__name__}: {error}"[:300])
        if value is None or math.isnan(value):
            return RagasOutcome(None, "no_statements", "the judge extracted no statement")
        return RagasOutcome(float(value), "ok")


def _is_parse_error(error: BaseException) -> bool:
    chain: BaseException | None = error
    while chain is not None:
        if type(chain).__name__ in PARSE_ERROR_NAMES or isinstance(chain, json.JSONDecodeError):
            return True
        chain = chain.__cause__ or chain.__context__
    return False


def build_judge(name: str, settings: Settings) -> RagasJudge | None:
    """The judge for `--judge`: None for "none", else ragas Faithfulness over the local or endpoint LLM."""
    if name not in JUDGES:
        raise InputError(f"unknown judge {name!r}; choose one of {', '.join(JUDGES)}")
    if name == "none":
        return None
    llm = local_judge_llm(settings) if name == "local" else openai_judge_llm(settings)
    return RagasJudge(llm, name)
