"""Scorer "endpoint": asks an OpenAI-compatible chat endpoint whether a document supports a claim, in the
yes/no style of Bespoke-MiniCheck-7B, so that any served model verifies: Bespoke-MiniCheck-7B itself (Ollama
serves it as bespoke-minicheck) or any chat model.

The format is MiniCheck's (github.com/Liyan06/MiniCheck: minicheck/utils.py for the prompts,
minicheck/inference.py `LLMCheck` for how the answer is read; Ollama's example for the model,
github.com/ollama/ollama examples/python-grounded-factuality-simple-check/main.py, documents the same): a
system message asks whether the claim is consistent with the document, to be answered "Yes" or "No", and the
user message is "Document: {document}\\nClaim: {claim}". MiniCheck's support probability is the probability
mass of "yes" among the first generated token's top logprobs. Here it is that mass over the mass of "yes" and
"no" together: the same for a model that only answers Yes or No, and a chat model's other openings ("The",
"Based") do not count against the claim. When the endpoint gives no logprobs (or verifier_logprobs is off)
the answer text decides: 1.0 when its first word is yes, 0.0 for anything else.

The system message is the project's own wording (INSTRUCTIONS). verifier_instructions replaces it, and an
empty value sends none, so that a model whose template carries its own system prompt (Ollama's
bespoke-minicheck does) reads exactly the format it was trained on.

Long documents are split into windows of whole sentences of at most 400 words, and a claim's score is the
maximum over windows, as MiniCheck chunks documents. MiniCheck gives Bespoke-MiniCheck-7B up to 32k tokens at
once; served context windows are often a few thousand tokens, so windows stay small. Pairs are asked a few at
a time (WORKERS threads). A failed request is a one-line RagError naming the setting to check.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any

from rag.config import Settings
from rag.endpoints import OPENAI_URL, endpoint_error, openai_client
from rag.errors import InputError, RagError
from rag.verify.scoring import configured_threshold
from rag.verify.windows import score_windowed

INSTRUCTIONS = (
    "You check claims against a document. Answer Yes if everything the claim states is stated or implied by "
    "the document, and No otherwise, including when the document does not say. Answer with the one word Yes "
    "or No."
)
WINDOW_WORDS = 400
WORKERS = 4
TOP_LOGPROBS = 5
ANSWER_TOKENS = 2


def answer_word(text: str) -> str:
    """The first word of an answer, lower-cased, without punctuation ("" for none)."""
    words = text.split()
    return words[0].strip(string.punctuation).lower() if words else ""


def support_probability(choice: Any) -> float:
    """P(yes) / (P(yes) + P(no)) over the first token's top logprobs when the choice has them and they hold
    either word; else 1.0 when the answer text starts with yes, 0.0 otherwise."""
    content = choice.logprobs.content if choice.logprobs else None
    if content:
        mass = {"yes": 0.0, "no": 0.0}
        for candidate in content[0].top_logprobs or [content[0]]:
            word = answer_word(candidate.token)
            if word in mass:
                mass[word] += math.exp(candidate.logprob)
        if mass["yes"] + mass["no"] > 0:
            return mass["yes"] / (mass["yes"] + mass["no"])
    return 1.0 if answer_word(choice.message.content or "") == "yes" else 0.0


class EndpointScorer:
    """Support probabilities from a chat endpoint's yes/no answers, max over premise windows."""

    name = "endpoint"

    def __init__(self, settings: Settings) -> None:
        if not settings.verifier_model:
            raise InputError(
                "scorer=endpoint needs verifier_model (env RAG_VERIFIER_MODEL): the name of the model the "
                "endpoint serves, e.g. bespoke-minicheck"
            )
        self.settings = settings
        self.endpoint = settings.verifier_base_url or OPENAI_URL
        self.threshold = configured_threshold(settings)
        given = settings.verifier_instructions
        self.instructions = INSTRUCTIONS if given is None else given

    @cached_property
    def client(self) -> Any:
        return openai_client(self.settings.verifier_base_url, self.settings.verifier_api_key_env)

    def warm_up(self) -> None:
        _ = self.client

    def score(self, premise: str, claim: str) -> float:
        return self.score_batch([(premise, claim)])[0]

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return score_windowed(pairs, self._ask_all, WINDOW_WORDS)

    def _ask_all(self, pairs: list[tuple[str, str]]) -> list[float]:
        pool = ThreadPoolExecutor(max_workers=min(WORKERS, len(pairs)), thread_name_prefix="verifier-endpoint")
        try:
            return list(pool.map(self.ask, pairs))
        finally:
            pool.shutdown(cancel_futures=True)

    def messages(self, premise: str, claim: str) -> list[dict[str, str]]:
        """The chat messages for one (document window, claim)."""
        system = [{"role": "system", "content": self.instructions}] if self.instructions else []
        return [*system, {"role": "user", "content": f"Document: {premise}\nClaim: {claim}"}]

    def ask(self, pair: tuple[str, str]) -> float:
        """One request: the support probability of one (document window, claim)."""
        import openai

        logprobs = {"logprobs": True, "top_logprobs": TOP_LOGPROBS} if self.settings.verifier_logprobs else {}
        try:
            response = self.client.chat.completions.create(
                model=self.settings.verifier_model,
                messages=self.messages(*pair),
                temperature=0.0,
                seed=self.settings.seed,
                max_tokens=ANSWER_TOKENS,
                **logprobs,
            )
        except openai.OpenAIError as error:
            raise endpoint_error(error, self.endpoint, "verifier_") from None
        if not response.choices:
            raise RagError(f"the endpoint {self.endpoint} gave no answer; check verifier_model (RAG_VERIFIER_MODEL)")
        return support_probability(response.choices[0])
