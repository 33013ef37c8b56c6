"""The conversation endpoints: POST /chat and POST /chat/stream take the chat so far as a `messages` list;
the last user message is rewritten into a standalone question (rag.chat) and answered and verified like
POST /ask. Earlier user messages may carry the `standalone` form an earlier reply gave them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from rag.chat import Conversation, from_messages, load_rewriter, message_text
from rag.config import PolicyName
from rag.errors import InputError
from rag.serve.routes import MAX_K, checked
from rag.serve.service import Service, ServiceDep
from rag.serve.streaming import EventStream

MAX_MESSAGES = 64

router = APIRouter()  # behind the API key: rag.serve.guard


class ChatMessage(BaseModel):
    """One message of the conversation; a user message may carry the standalone question it was asked as."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str
    standalone: str | None = Field(None, description="the question this user message was asked as")


class ChatBody(BaseModel):
    """The conversation so far, oldest first, ending with the user's new question."""

    model_config = ConfigDict(extra="forbid")

    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    k: int | None = Field(None, ge=1, le=MAX_K, description="passages to retrieve")
    policy: PolicyName | None = Field(None, description="annotate | filter | strict")


def last_question(messages: list[dict[str, Any]], service: Service) -> str:
    """The last message's text, checked like a question (before any queueing); 422 unless it is the user's."""
    if messages[-1]["role"] != "user":
        raise InputError("the last message must be the user's question")
    return checked(message_text(messages[-1]["content"]), service)


def conversation(service: Service, messages: list[dict[str, Any]]) -> tuple[Conversation, str]:
    """The conversation on the live pipeline, with the rewriter of the setting `rewriter` (call it on a lane)."""
    pipeline = service.holder.current()
    return from_messages(pipeline, load_rewriter(service.settings, pipeline), messages)


@router.post("/chat", summary="Answer the last question of a conversation: {question, standalone, rewritten, answer}")
async def chat(body: ChatBody, service: ServiceDep) -> dict[str, Any]:
    messages = [m.model_dump() for m in body.messages]
    last_question(messages, service)

    def work(stop: threading.Event) -> dict[str, Any]:
        talk, question = conversation(service, messages)
        return talk.ask(question, k=body.k, policy=body.policy).to_dict()

    return await service.generation.run(service.options.timeout_s, work)


@router.post(
    "/chat/stream",
    summary="The same as server-sent events: question (the standalone form), passages, token..., answer",
    response_class=EventSourceResponse,
)
async def chat_stream(body: ChatBody, service: ServiceDep) -> EventSourceResponse:
    messages = [m.model_dump() for m in body.messages]
    last_question(messages, service)

    def events() -> Iterator[tuple[str, Any]]:
        talk, question = conversation(service, messages)
        yield from talk.ask_stream(question, k=body.k, policy=body.policy)

    stream = EventStream(service.generation, events, service.options.timeout_s)
    return EventSourceResponse(stream.events(), ping=15)
