"""Conversations over HTTP: POST /chat and /chat/stream, and the OpenAI-compatible endpoints driven by the real
`openai` client against a real uvicorn server over the fake pipeline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient

from rag.config import Settings
from rag.fakes import UNSUPPORTED_CLAIM, fake_pipeline
from rag.serve import create_app
from rag.serve.app import serve_in_thread

OPEN = "When did the Harbor Valley Railway open?"
CLOSE = "And when did it close?"
CLOSE_STANDALONE = "When did the Harbor Valley Railway close?"
OPENED = "The Harbor Valley Railway opened in 1894. [1]"
HISTORY = [{"role": "user", "content": OPEN}, {"role": "assistant", "content": OPENED}]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index=tmp_path / "index")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, fake_pipeline(settings))) as test_client:
        yield test_client


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(settings, fake_pipeline(settings))) as url:
        yield url


@pytest.fixture
def llm(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="not-needed", max_retries=0)


def test_chat_rewrites_the_follow_up_and_answers_it_verified(client: TestClient) -> None:
    reply = client.post("/chat", json={"messages": [*HISTORY, {"role": "user", "content": CLOSE}]})
    assert reply.status_code == 200, reply.text
    turn = reply.json()
    assert (turn["question"], turn["standalone"], turn["rewritten"]) == (CLOSE, CLOSE_STANDALONE, True)
    assert turn["answer"]["question"] == CLOSE_STANDALONE
    assert turn["answer"]["sentences"][0]["citations"][0]["doc_id"] == "history/founding.md"
    assert turn["answer"]["removed"] == 1  # the echoing generator's invented sentence, verified away


def test_chat_stream_opens_with_the_standalone_question(client: TestClient) -> None:
    body = {"messages": [*HISTORY, {"role": "user", "content": CLOSE}]}
    with client.stream("POST", "/chat/stream", json=body) as response:
        lines = [line for line in response.iter_lines() if line.startswith(("event:", "data:"))]
    kinds = [line.removeprefix("event: ") for line in lines if line.startswith("event:")]
    answer_kinds = [kind for kind in kinds if kind != "stage"]
    assert kinds[0] == "question" and answer_kinds[1] == "passages" and kinds[-1] == "answer" and "token" in kinds
    assert json.loads(lines[1].removeprefix("data: "))["standalone"] == CLOSE_STANDALONE


@pytest.mark.parametrize(
    ("messages", "status"),
    [
        ([], 422),
        ([{"role": "user", "content": OPEN}, {"role": "assistant", "content": OPENED}], 422),
        ([{"role": "user", "content": "   "}], 422),
        ([{"role": "user", "content": "x" * 3000}], 413),
        ([{"role": "robot", "content": OPEN}], 422),
    ],
)
def test_bad_conversations_get_json_errors(client: TestClient, messages: list[Any], status: int) -> None:
    reply = client.post("/chat", json={"messages": messages})
    assert reply.status_code == status and "error" in reply.json()


def test_openai_client_lists_the_model(llm: openai.OpenAI) -> None:
    assert [model.id for model in llm.models.list()] == ["grounded-rag"]


def test_openai_client_gets_the_verified_answer_and_its_grounding(llm: openai.OpenAI) -> None:
    completion = llm.chat.completions.create(model="grounded-rag", messages=[{"role": "user", "content": OPEN}])
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == OPENED
    assert completion.choices[0].finish_reason == "stop"
    grounded = completion.model_extra["grounded"]
    sentence = grounded["answer"]["sentences"][0]
    assert sentence["supported"] and sentence["citations"][0]["doc_id"] == "history/founding.md"
    assert sentence["citations"][0]["quote"] == "The Harbor Valley Railway opened in 1894."
    assert UNSUPPORTED_CLAIM not in completion.choices[0].message.content


def test_openai_client_follow_up_is_rewritten(llm: openai.OpenAI) -> None:
    system = {"role": "system", "content": "Answer briefly."}
    messages: list[Any] = [system, *HISTORY, {"role": "user", "content": CLOSE}]
    completion = llm.chat.completions.create(model="grounded-rag", messages=messages, extra_body={"policy": "strict"})
    grounded = completion.model_extra["grounded"]
    assert (grounded["standalone"], grounded["rewritten"]) == (CLOSE_STANDALONE, True)
    answer = grounded["answer"]
    assert answer["policy"] == "strict" and UNSUPPORTED_CLAIM not in completion.choices[0].message.content
    # strict withholds the echoed answer with its invented sentence; what is shown, if anything, is a quote
    assert answer["abstained"] or [s["status"] for s in answer["sentences"]] == ["quoted"]


def test_openai_client_streams_only_the_verified_answer(llm: openai.OpenAI) -> None:
    question = [{"role": "user", "content": OPEN}]
    stream = llm.chat.completions.create(model="grounded-rag", messages=question, stream=True)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == OPENED and UNSUPPORTED_CLAIM not in text  # the unverified draft is never sent
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["grounded"]["answer"]["sentences"][0]["citations"][0]["n"] == 1
    assert len({c.id for c in chunks}) == 1


def test_openai_errors_and_the_api_key(settings: Settings) -> None:
    with serve_in_thread(create_app(settings, fake_pipeline(settings), api_key="secret")) as url:
        wrong = openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        right = openai.OpenAI(base_url=f"{url}/v1", api_key="secret", max_retries=0)
        assert right.models.list().data[0].id == "grounded-rag"
        with pytest.raises(openai.UnprocessableEntityError):
            right.chat.completions.create(model="grounded-rag", messages=[{"role": "assistant", "content": "hi"}])
        with pytest.raises(openai.APIStatusError) as too_long:
            right.chat.completions.create(model="grounded-rag", messages=[{"role": "user", "content": "x" * 3000}])
        assert too_long.value.status_code == 413
