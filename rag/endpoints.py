"""OpenAI-compatible endpoints (OpenAI, llama.cpp server, vLLM, Ollama, ...): the client and the one-line error
for a failed request, shared by the "openai" generator and the "endpoint" scorer.

Each user of an endpoint has three settings, spelled with a prefix: `base_url`, `model` and `api_key_env` for
the generator, `verifier_base_url`, `verifier_model` and `verifier_api_key_env` for the scorer. The API key is
read from the environment variable the `api_key_env` setting names; when that is unset a dummy key is sent,
which local servers accept.
"""

from __future__ import annotations

import os
from typing import Any

from rag.errors import RagError

DUMMY_API_KEY = "not-needed"
OPENAI_URL = "https://api.openai.com/v1"
TIMEOUT_S = 300.0


def openai_client(base_url: str | None, api_key_env: str, timeout: float = TIMEOUT_S) -> Any:
    """An `openai.OpenAI` client for the endpoint (None: api.openai.com); one retry, then the error."""
    from openai import OpenAI

    api_key = os.environ.get(api_key_env) or DUMMY_API_KEY
    return OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=1)


def endpoint_error(error: Exception, endpoint: str, prefix: str = "") -> RagError:
    """A one-line message for a failed request (connection refused, timeout, HTTP error status) naming the
    settings that fix it: `{prefix}base_url` when the endpoint cannot be reached, `{prefix}model` and
    `{prefix}api_key_env` when it answers with an error status."""
    import openai

    def setting(name: str) -> str:
        return f"{prefix}{name} (RAG_{prefix.upper()}{name.upper()})"

    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error
        return RagError(f"cannot reach the endpoint {endpoint} ({cause}); check {setting('base_url')}")
    if isinstance(error, openai.APIStatusError):
        message = " ".join(str(error.message).split())[:200]
        return RagError(
            f"the endpoint {endpoint} answered HTTP {error.status_code}: {message}; "
            f"check {setting('model')} and {setting('api_key_env')}"
        )
    return RagError(f"the endpoint {endpoint} failed: {' '.join(str(error).split())[:200]}")
