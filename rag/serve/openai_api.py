"""An OpenAI-compatible face of the service: GET /v1/models and POST /v1/chat/completions (whole or streamed),
so any chat client that speaks OpenAI's protocol (the openai Python client, Open WebUI, LibreChat) can use
grounded-rag as a model named "grounded-rag".

The conversation in `messages` is a chat (rag.chat): its last user message is rewritten into a standalone
question, answered and verified like POST /ask. The reply's `content` is the verified answer with its [n]
markers ("The corpus does not say." when it abstains). Everything else rides in an extra field, `grounded`, of
the completion (and of the last chunk of a stream): the same JSON as POST /chat, i.e.
{"question", "standalone", "rewritten", "answer": Answer.to_dict()} with every sentence's citations, quotes,
offsets and support, the passages, and the abstention and its reason.

A stream sends the role first, then the verified answer's text in pieces once it is verified (the unverified
draft is never sent: it can hold sentences that verification removes), then a chunk with finish_reason "stop"
and `grounded`, then `data: [DONE]`. Sampling parameters (temperature, max_tokens, ...) are accepted and
ignored; `k` and `policy` may be given as extra fields. The key, when the server has one, is accepted as
`Authorization: Bearer KEY` (what OpenAI clients send) or as X-API-Key.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import Future
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from rag.chat import Turn
from rag.config import PolicyName
from rag.serve.chat import MAX_MESSAGES, conversation, last_question
from rag.serve.errors import describe
from rag.serve.lanes import RequestTimeout
from rag.serve.routes import MAX_K
from rag.serve.service import Service, ServiceDep

MODEL_ID = "grounded-rag"
router = APIRouter(prefix="/v1")  # behind the API key (Bearer or X-API-Key): rag.serve.guard


class Message(BaseModel):
    """An OpenAI chat message: text content, or a list of content parts of which the text ones are read."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class CompletionBody(BaseModel):
    """OpenAI's chat completion request; fields this service does not use are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL_ID
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    k: int | None = Field(None, ge=1, le=MAX_K, description="passages to retrieve (extra field)")
    policy: PolicyName | None = Field(None, description="annotate | filter | strict (extra field)")


@router.get("/models", summary="The one model this service is: grounded-rag")
async def models(service: ServiceDep) -> dict[str, Any]:
    return {"object": "list", "data": [model_card(service)]}


def model_card(service: Service) -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": int(service.started), "owned_by": "grounded-rag"}


@router.post("/chat/completions", summary="Answer the conversation's last question (OpenAI's format, `grounded`)")
async def chat_completions(body: CompletionBody, service: ServiceDep) -> Any:
    messages = [m.model_dump() for m in body.messages]
    last_question(messages, service)

    def work(stop: threading.Event) -> Turn:
        talk, question = conversation(service, messages)
        return talk.ask(question, k=body.k, policy=body.policy)

    reply = Reply(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), body.model)
    if not body.stream:
        return reply.completion(await service.generation.run(service.options.timeout_s, work))
    job = service.generation.submit(work)  # a full lane is a 429 before the stream starts
    return EventSourceResponse(reply.chunks(job.future, service), ping=15)


class Reply:
    """One completion's id, time and model name, and its JSON whole or in chunks."""

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        self.id, self.created, self.model = completion_id, created, model

    def completion(self, turn: Turn) -> dict[str, Any]:
        message = {"role": "assistant", "content": turn.answer.answer}
        return {
            **self._head("chat.completion"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            "grounded": turn.to_dict(),
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, str]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        data = {**self._head("chat.completion.chunk"), "choices": [choice], **extra}
        return {"data": json.dumps(data, ensure_ascii=False)}

    async def chunks(self, future: Future[Turn], service: Service) -> AsyncIterator[dict[str, str]]:
        """The role, the verified text in pieces, the final chunk with `grounded`, then [DONE]; an error is a
        chunk {"error": {"message", "code"}} (OpenAI's shape), after which the stream ends."""
        yield self.chunk({"role": "assistant", "content": ""})
        try:
            turn = await asyncio.wait_for(asyncio.wrap_future(future), service.options.timeout_s)
        except TimeoutError:
            service.generation.timed_out()
            yield stream_error(RequestTimeout(service.options.timeout_s))
            return
        except Exception as error:
            yield stream_error(error)
            return
        for piece in re.findall(r"\S+\s*", turn.answer.answer):
            yield self.chunk({"content": piece})
        yield self.chunk({}, "stop", grounded=turn.to_dict())
        yield {"data": "[DONE]"}

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}


def stream_error(error: BaseException) -> dict[str, str]:
    status, message = describe(error)
    return {"data": json.dumps({"error": {"message": message, "code": status}}, ensure_ascii=False)}
