"""HTTP API tests: every endpoint through FastAPI's TestClient over a fake pipeline that returns real records;
bad input, the 429 queue, timeouts, the API key, and ingestion (off, on, and swapped under live queries)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from rag.config import Settings
from rag.errors import InputError, RagError
from rag.fakes import UNSUPPORTED_CLAIM, EchoGenerator, OverlapScorer, fake_pipeline
from rag.pipeline import Pipeline
from rag.records import Answer
from rag.retrieval.retriever import IndexRetriever
from rag.serve import create_app
from rag.serve.app import is_loopback, serve, serve_in_thread
from rag.verify.verifier import Verifier

QUESTION = "When did the railway open?"
WRITE = {"X-Requested-With": "fetch"}  # what a multipart write needs besides its body (rag.serve.guard)


class BlockingGenerator(EchoGenerator):
    """Answers only once `release` is set; records how many generations ever overlapped."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.active = 0
        self.most_active = 0
        self._lock = threading.Lock()

    def stream(self, prompt: Any) -> Iterator[str]:
        with self._lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            self.release.wait(10)
            yield from super().stream(prompt)
        finally:
            with self._lock:
                self.active -= 1


class FailingGenerator(EchoGenerator):
    """Every generation raises the given error."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def stream(self, prompt: Any) -> Iterator[str]:
        raise self.error
        yield  # a generator, like the real one


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index=tmp_path / "index")


@pytest.fixture
def fake(settings: Settings) -> Pipeline:
    return fake_pipeline(settings)


@pytest.fixture
def client(settings: Settings, fake: Pipeline) -> Iterator[TestClient]:
    with TestClient(create_app(settings, fake), raise_server_exceptions=False) as test_client:
        yield test_client


def make_client(settings: Settings, pipeline: Any, **options: Any) -> TestClient:
    return TestClient(create_app(settings, pipeline, **options), raise_server_exceptions=False)


def sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a server-sent-event body."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = block.split("\n")
        kind = next((line[6:].strip() for line in lines if line.startswith("event:")), None)
        data = "\n".join(line[5:].lstrip() for line in lines if line.startswith("data:"))
        if kind and data:
            events.append((kind, json.loads(data)))
    return events


def without_timings(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "timings"}


def assert_json_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text
    return body


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# ------------------------------------------------------------------------------------------ endpoints


def test_models_warm_up_once_at_start(settings: Settings, fake: Pipeline) -> None:
    assert fake.generator.warm_ups == 0
    with make_client(settings, fake) as client:
        assert fake.generator.warm_ups == 1
        assert client.get("/health").json() == {"status": "ok"}


def test_ask_returns_the_answer_contract(client: TestClient, fake: Pipeline) -> None:
    response = client.post("/ask", json={"question": QUESTION})
    assert response.status_code == 200
    body = response.json()
    assert without_timings(body) == without_timings(fake.ask(QUESTION).to_dict())
    assert set(body) == set(Answer("q", "a", False).to_dict())
    assert body["answer"] == "The Harbor Valley Railway opened in 1894. [1]"
    assert body["removed"] == 1 and not body["abstained"]
    citation = body["sentences"][0]["citations"][0]
    assert citation["doc_id"] == "history/founding.md" and citation["quote"].startswith("The Harbor Valley")


def test_ask_passes_k_and_policy(client: TestClient) -> None:
    body = client.post("/ask", json={"question": QUESTION, "k": 1, "policy": "annotate"}).json()
    assert len(body["passages"]) == 1
    assert body["policy"] == "annotate" and UNSUPPORTED_CLAIM in body["answer"]
    strict = client.post("/ask", json={"question": QUESTION, "policy": "strict"}).json()
    # strict refuses the generated answer (one claim is unsupported); the quoted fallback answers instead
    assert strict["extractive"] and UNSUPPORTED_CLAIM not in strict["answer"] and strict["policy"] == "strict"


def test_ask_abstains_with_a_reason(client: TestClient) -> None:
    body = client.post("/ask", json={"question": "Zebras quantum xylophone?"}).json()
    assert body["abstained"] and body["abstain_reason"] and body["answer"] == "The corpus does not say."


def test_stream_sends_passages_tokens_then_the_verified_answer(client: TestClient, fake: Pipeline) -> None:
    response = client.post("/ask/stream", json={"question": QUESTION})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [(kind, data) for kind, data in sse(response.text) if kind != "stage"]
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "passages" and kinds[-1] == "answer" and set(kinds[1:-1]) == {"token"}
    assert events[0][1]["passages"][0]["doc_id"] == "history/founding.md"
    answer = events[-1][1]
    assert "".join(data["text"] for kind, data in events if kind == "token") == answer["raw_answer"]
    assert without_timings(answer) == without_timings(fake.ask(QUESTION).to_dict())


def test_search(client: TestClient) -> None:
    body = client.get("/search", params={"q": "volunteers locomotives", "k": 2, "mode": "bm25"}).json()
    assert body["query"] == "volunteers locomotives" and body["k"] == 2 and body["mode"] == "bm25"
    assert body["passages"][0]["doc_id"] == "people/volunteers.txt" and body["passages"][0]["n"] == 1
    assert_json_error(client.get("/search", params={"q": "x", "mode": "psychic"}), 422)


def test_document_ids_with_slashes(client: TestClient) -> None:
    body = client.get("/documents/history/founding.md").json()
    assert body["doc_id"] == "history/founding.md" and body["text"].startswith("The Harbor Valley Railway")
    assert "history/nope.md" in assert_json_error(client.get("/documents/history/nope.md"), 404)["error"]


def test_stats(client: TestClient) -> None:
    client.post("/ask", json={"question": QUESTION})
    body = client.get("/stats").json()
    assert body["index"]["documents"] == 3 and body["index"]["chunks"] == 3
    assert body["lanes"]["generation"]["completed"] == 1 and body["lanes"]["generation"]["workers"] == 1
    assert body["ingest"] == {"enabled": False, "last": None}
    assert body["models"]["embedder"] and body["defaults"]["max_question_chars"] == 2000


def test_page_static_files_and_openapi(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'id="question"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "//cdn" not in page.text and "https://" not in page.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/ask", "/ask/stream", "/search", "/documents/{doc_id}", "/health", "/stats", "/ingest"} <= set(paths)
    assert client.get("/docs").status_code == 200


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"question": ""}, 422),
        ({"question": "   \n "}, 422),
        ({"question": "x" * 100_000}, 413),
        ({"question": 42}, 422),
        ({"question": ["a list"]}, 422),
        ({"question": QUESTION, "k": "many"}, 422),
        ({"question": QUESTION, "k": 0}, 422),
        ({"question": QUESTION, "k": 51}, 422),
        ({"question": QUESTION, "k": 2.5}, 422),
        ({"question": QUESTION, "unknown": 1}, 422),
        ({}, 422),
        ({"question": QUESTION, "policy": "lenient"}, 422),
    ],
)
def test_bad_ask_requests_get_json_errors(client: TestClient, body: dict[str, Any], status: int) -> None:
    assert_json_error(client.post("/ask", json=body), status)


def test_stream_rejects_bad_input_before_streaming(client: TestClient) -> None:
    assert_json_error(client.post("/ask/stream", json={"question": ""}), 422)
    assert_json_error(client.post("/ask/stream", json={"question": "y" * 100_000}), 413)


def test_malformed_bodies(client: TestClient) -> None:
    assert_json_error(client.post("/ask", content=b"{not json", headers={"content-type": "application/json"}), 422)
    assert_json_error(client.post("/ask", content=b"x" * 300_000, headers={"content-type": "application/json"}), 413)
    assert_json_error(client.get("/search", params={"q": "x", "k": 99}), 422)
    assert_json_error(client.get("/search"), 422)
    assert_json_error(client.get("/no/such/route"), 404)


@pytest.mark.parametrize(
    ("error", "status"),
    [(InputError("bad question"), 422), (RagError("no index"), 400), (RuntimeError("secret detail"), 500)],
)
def test_pipeline_errors_map_to_json_statuses(settings: Settings, error: Exception, status: int) -> None:
    with make_client(settings, fake_pipeline(settings, generator=FailingGenerator(error))) as client:
        body = assert_json_error(client.post("/ask", json={"question": QUESTION}), status)
        events = sse(client.post("/ask/stream", json={"question": QUESTION}).text)
    assert events[-1][0] == "error" and events[-1][1]["status"] == status
    if status == 500:
        assert "secret detail" not in body["error"] and "secret detail" not in events[-1][1]["error"]


# ------------------------------------------------------------------------------------ bounded work


def test_one_generation_at_a_time_and_429_past_the_queue(settings: Settings) -> None:
    slow = BlockingGenerator()
    with (
        make_client(settings, fake_pipeline(settings, generator=slow), generation_queue=1) as client,
        ThreadPoolExecutor(2) as pool,
    ):
        lane = client.app.state.service.generation
        running = [pool.submit(client.post, "/ask", json={"question": QUESTION}) for _ in range(2)]
        wait_until(lambda: lane.stats()["running"] == 1 and lane.stats()["waiting"] == 1)
        refused = client.post("/ask", json={"question": QUESTION})
        assert_json_error(refused, 429)
        assert int(refused.headers["retry-after"]) >= 1
        assert_json_error(client.post("/ask/stream", json={"question": QUESTION}), 429)
        slow.release.set()
        assert [f.result().status_code for f in running] == [200, 200]
    assert slow.most_active == 1
    assert lane.stats()["rejected"] == 2


def test_timeout_is_504_and_the_work_keeps_its_slot(settings: Settings) -> None:
    slow = BlockingGenerator()
    with make_client(settings, fake_pipeline(settings, generator=slow), timeout_s=0.3) as client:
        lane = client.app.state.service.generation
        assert "longer than 0.3 s" in assert_json_error(client.post("/ask", json={"question": QUESTION}), 504)["error"]
        assert lane.stats()["running"] == 1, "the timed-out generation still holds the model"
        events = sse(client.post("/ask/stream", json={"question": QUESTION}).text)
        assert events[-1] == ("error", {"error": "the request took longer than 0.3 s", "status": 504})
        slow.release.set()
        wait_until(lambda: lane.stats()["running"] == 0)
        assert client.post("/ask", json={"question": QUESTION}).status_code == 200
    assert slow.most_active == 1 and lane.stats()["timeouts"] == 2


# ------------------------------------------------------------------------------------------- API key


def test_api_key_required_and_accepted(settings: Settings, fake: Pipeline) -> None:
    with make_client(settings, fake, api_key="s3cret") as client:
        assert "X-API-Key" in assert_json_error(client.post("/ask", json={"question": QUESTION}), 401)["error"]
        wrong = client.get("/search", params={"q": "railway"}, headers={"X-API-Key": "guess"})
        assert_json_error(wrong, 401)
        assert_json_error(client.get("/documents/history/founding.md"), 401)
        assert_json_error(client.post("/ask/stream", json={"question": QUESTION}), 401)
        good = client.post("/ask", json={"question": QUESTION}, headers={"X-API-Key": "s3cret"})
        assert good.status_code == 200
        assert client.get("/health").status_code == 200 and client.get("/").status_code == 200


def test_no_key_needed_by_default(client: TestClient) -> None:
    assert client.get("/stats").status_code == 200


def test_serve_refuses_a_public_host_without_a_key(settings: Settings) -> None:
    with pytest.raises(RagError, match=r"refusing to serve on 0\.0\.0\.0 without an API key"):
        serve(settings, host="0.0.0.0", port=8000)
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.5", "example.org", "::"))


# ------------------------------------------------------------------------------------------ ingestion


def test_ingest_is_off_by_default(client: TestClient) -> None:
    response = client.post("/ingest", files={"files": ("notes.txt", b"Some text.", "text/plain")}, headers=WRITE)
    assert "--allow-ingest" in assert_json_error(response, 403)["error"]


@pytest.fixture
def live_index(settings: Settings, fake_embedder: Any, corpus: Path) -> Pipeline:
    """A real Pipeline over an index of the test corpus, with the hashing embedder and the model-free parts."""
    from ingest.pipeline import Ingestor

    Ingestor(settings, embedder=fake_embedder).run([corpus], settings.index)
    return fake_pipeline(settings).with_parts(
        retriever=IndexRetriever(settings.index, fake_embedder, settings), verifier=Verifier(OverlapScorer())
    )


def upload(client: Any, name: str, text: str) -> httpx.Response:
    return client.post("/ingest", files={"files": (name, text.encode(), "text/plain")}, headers=WRITE)


def test_uploaded_text_becomes_searchable(settings: Settings, live_index: Any) -> None:
    with make_client(settings, live_index, allow_ingest=True, ingest_embedder=live_index.embedder) as client:
        before = client.get("/stats").json()["index"]
        response = upload(client, "delta.txt", "The Delta viaduct has seventeen granite arches.")
        assert response.status_code == 200, response.text
        assert response.json()["files"] == ["uploads/delta.txt"] and response.json()["report"]["added"] == 1
        hits = client.get("/search", params={"q": "Delta viaduct granite arches", "mode": "bm25"}).json()
        assert hits["passages"][0]["doc_id"] == "uploads/delta.txt"
        assert "seventeen" in client.get("/documents/uploads/delta.txt").json()["text"]
        after = client.get("/stats").json()
    assert after["index"]["documents"] == before["documents"] + 1
    assert after["index"]["generation"] != before["generation"]
    assert after["ingest"]["last"]["files"] == ["delta.txt"]
    assert not list(Path(settings.index).glob(".staging-*"))


@pytest.mark.parametrize(
    ("files", "status"),
    [
        ([("files", ("tool.exe", b"MZ", "application/octet-stream"))], 415),
        ([("files", ("../../etc/passwd", b"root", "text/plain"))], 415),
        ([("files", (".hidden.txt", b"x", "text/plain"))], 422),
        ([("files", ("big.txt", b"x" * 4096, "text/plain"))], 413),
        ([("files", ("a.txt", b"one", "text/plain")), ("files", ("a.txt", b"two", "text/plain"))], 422),
        ([], 422),
    ],
)
def test_bad_uploads_are_refused(settings: Settings, fake: Pipeline, files: list[Any], status: int) -> None:
    with make_client(settings, fake, allow_ingest=True, max_upload_mb=0.002) as client:
        if files:
            response = client.post("/ingest", files=files, headers=WRITE)
        else:
            response = client.post("/ingest", data={"x": "1"}, headers=WRITE)
        assert_json_error(response, status)


def test_ingest_swaps_the_index_under_concurrent_queries(settings: Settings, live_index: Any) -> None:
    app = create_app(settings, live_index, allow_ingest=True, reload_check_s=0.0, ingest_embedder=live_index.embedder)
    stop = threading.Event()

    def query(base: str) -> list[int]:
        statuses = []
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set() or not statuses:
                statuses.append(http.get("/search", params={"q": "line opened coast station"}).status_code)
        return statuses

    with serve_in_thread(app) as base, ThreadPoolExecutor(4) as pool:
        readers = [pool.submit(query, base) for _ in range(4)]
        with httpx.Client(base_url=base, timeout=60) as http:
            for n in range(3):
                assert upload(http, f"extra{n}.txt", f"Extra note {n}: the carriage shed holds {n} coaches.").is_success
            hits = http.get("/search", params={"q": "carriage shed coaches", "mode": "bm25", "k": 3}).json()
        stop.set()
        statuses = [s for reader in readers for s in reader.result()]
    assert statuses and set(statuses) == {200}
    assert {p["doc_id"] for p in hits["passages"]} == {f"uploads/extra{n}.txt" for n in range(3)}
