"""What a hostile page or client can do to the HTTP service, tried on a real uvicorn server on loopback: cross-site
writes (CSRF), DNS rebinding, bodies judged before they are read, uploads left behind and what answers expose."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from rag.config import Settings
from rag.fakes import HashingEmbedder, fake_pipeline
from rag.index.generations import try_lock
from rag.serve import create_app
from rag.serve.app import serve_in_thread

from .conftest import REPO
from .test_serve_api import sse

QUESTION = "When did the railway open?"
FOREIGN = "http://attacker.example"
PLANTED = "The attacker planted this sentence about flamingos."
WRITE = {"X-Requested-With": "fetch"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index=tmp_path / "index")


@contextmanager
def serving(settings: Settings, pipeline: Any = None, **options: Any) -> Iterator[httpx.Client]:
    """A real uvicorn server on 127.0.0.1 over the fake pipeline, and a client for it."""
    app = create_app(settings, pipeline or fake_pipeline(settings), **options)
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def planted_upload() -> dict[str, Any]:
    return {"files": ("planted.txt", PLANTED.encode(), "text/plain")}


def raw(client: httpx.Client, head: str, *parts: bytes) -> int:
    """Send a request head and the first parts of its body, leave the body unfinished, and return the status
    of the reply: a server that judges before it reads answers without waiting for the rest."""
    url = urlsplit(str(client.base_url))
    with socket.create_connection((url.hostname, url.port), timeout=20) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"".join(parts))
        reply = sock.recv(65536)
    return int(reply.split(b" ", 2)[1])


PART = b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n'


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def head(client: httpx.Client, path: str, content_type: str, *extra: str, length: int | None = None) -> str:
    host = urlsplit(str(client.base_url)).netloc
    body = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Type: {content_type}", body, *extra]
    return "\n".join(lines) + "\n\n"


# ------------------------------------------------------------------------------------ cross-site writes


@pytest.mark.parametrize("origin", [FOREIGN, "null", None])
def test_what_a_cross_site_form_can_post_is_refused(settings: Settings, fake_embedder: Any, origin: str | None) -> None:
    """A page on another origin can post multipart/form-data, text/plain or a urlencoded form with no custom
    header (an HTML form, or fetch in no-cors mode); none of it may reach an endpoint."""
    headers = {"Origin": origin} if origin else {}
    with serving(settings, allow_ingest=True, ingest_embedder=fake_embedder) as client:
        planted = client.post("/ingest", files=planted_upload(), headers=headers)
        as_text = client.post(
            "/ask", content=f'{{"question": "{QUESTION}"}}', headers={**headers, "Content-Type": "text/plain"}
        )
        as_form = client.post("/ask/stream", data={"question": QUESTION}, headers=headers)
        for response in (planted, as_text, as_form):
            assert response.status_code == 403, response.text
            assert response.json()["error"]
        stats = client.get("/stats").json()
    assert stats["lanes"]["ingest"]["completed"] == 0 and stats["lanes"]["generation"]["completed"] == 0
    assert not (settings.index / "CURRENT").exists(), "nothing was ingested"


def test_a_foreign_origin_is_refused_even_with_a_custom_header(settings: Settings) -> None:
    with serving(settings) as client:
        response = client.post("/ask", json={"question": QUESTION}, headers={"Origin": FOREIGN})
        assert response.status_code == 403 and "Origin" in response.json()["error"]
        assert client.get("/stats", headers={"Origin": FOREIGN}).status_code == 403


def test_same_origin_requests_pass(settings: Settings, fake_embedder: Any) -> None:
    with serving(settings, allow_ingest=True, ingest_embedder=fake_embedder) as client:
        own = str(client.base_url).rstrip("/")
        assert client.post("/ask", json={"question": QUESTION}, headers={"Origin": own}).status_code == 200
        upload = client.post("/ingest", files=planted_upload(), headers={"X-Requested-With": "fetch", "Origin": own})
        assert upload.status_code == 200, upload.text
        assert client.get("/stats").json()["lanes"]["ingest"]["completed"] == 1


def test_dns_rebinding_is_refused(settings: Settings) -> None:
    """A name the attacker controls, pointed at 127.0.0.1, makes the page same-origin; the Host header still
    names the attacker's domain."""
    with serving(settings) as client:
        port = urlsplit(str(client.base_url)).port
        rebound = {"Host": f"attacker.example:{port}", "Origin": f"http://attacker.example:{port}"}
        for response in (
            client.get("/stats", headers=rebound),
            client.get("/documents/history/founding.md", headers=rebound),
            client.post("/ask", json={"question": QUESTION}, headers=rebound),
        ):
            assert response.status_code == 421, response.text
            assert "Host" in response.json()["error"]
        assert client.get("/stats", headers={"Host": f"localhost:{port}"}).status_code == 200


# ------------------------------------------------------------------------------ bodies judged first


def test_a_missing_key_is_refused_before_the_upload_is_read(settings: Settings) -> None:
    with serving(settings, api_key="s3cret", allow_ingest=True) as client:
        started = head(client, "/ingest", "multipart/form-data; boundary=xyz", "X-Requested-With: fetch")
        assert raw(client, started, chunk(PART + b"x" * 65536)) == 401


def test_ingest_off_is_refused_before_the_upload_is_read(settings: Settings) -> None:
    with serving(settings) as client:
        started = head(client, "/ingest", "multipart/form-data; boundary=xyz", "X-Requested-With: f", length=5 << 20)
        assert raw(client, started, PART + b"x" * 65536) == 403


def test_a_chunked_body_over_the_limit_is_cut_off(settings: Settings) -> None:
    """Chunked transfer declares no length; the limit counts the bytes as they come."""
    with serving(settings) as client:
        started = head(client, "/ask", "application/json")
        parts = [chunk(b'{"question": "' + b"x" * 65536)] + [chunk(b"x" * 65536)] * 4
        assert raw(client, started, *parts) == 413


def test_a_chunked_upload_over_the_limit_is_cut_off(settings: Settings, fake_embedder: Any) -> None:
    with serving(settings, allow_ingest=True, max_upload_mb=0.01, max_upload_files=1) as client:
        started = head(client, "/ingest", "multipart/form-data; boundary=xyz", "X-Requested-With: fetch")
        assert raw(client, started, chunk(PART), *[chunk(b"x" * 65536)] * 3) == 413


# ---------------------------------------------------------------------------------------- uploads


class HeldEmbedder(HashingEmbedder):
    """Embeds only once `release` is set (or the ingest is cancelled and stops calling it)."""

    def __init__(self, tokenizer: Any) -> None:
        super().__init__(tokenizer)
        self.release = threading.Event()
        self.entered = threading.Event()

    def encode(self, texts: Any, progress: bool = False) -> Any:
        self.entered.set()
        self.release.wait(30)
        return super().encode(texts)


def upload_folders(parent: Path) -> list[Path]:
    return sorted(p for p in parent.glob("rag-upload-*") if p.is_dir()) if parent.exists() else []


def test_a_refused_upload_leaves_nothing_behind(settings: Settings, tokenizer: Any, tmp_path: Path) -> None:
    """While one upload is ingested, a second is refused (429) before its body is read or stored."""
    parent, embedder = tmp_path / "uploads", HeldEmbedder(tokenizer)
    options = {"allow_ingest": True, "ingest_embedder": embedder, "upload_dir": parent}
    with serving(settings, **options) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/ingest", files=planted_upload(), headers=WRITE)
        assert embedder.entered.wait(30)
        refused = client.post("/ingest", files={"files": ("b.txt", b"x" * 100_000, "text/plain")}, headers=WRITE)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert len(upload_folders(parent)) == 1, "only the running upload has a folder"
        embedder.release.set()
        assert first.result().status_code == 200
    assert upload_folders(parent) == [] and not list(parent.glob("*.lock"))


def test_a_timed_out_upload_is_cancelled_and_removed(settings: Settings, tokenizer: Any, tmp_path: Path) -> None:
    parent, embedder = tmp_path / "uploads", HeldEmbedder(tokenizer)
    options = {"allow_ingest": True, "ingest_embedder": embedder, "upload_dir": parent, "ingest_timeout_s": 0.5}
    with serving(settings, **options) as client:
        assert client.post("/ingest", files=planted_upload(), headers=WRITE).status_code == 504
        embedder.release.set()
        wait_until(lambda: client.get("/stats").json()["lanes"]["ingest"]["running"] == 0)
        assert upload_folders(parent) == []
        assert not (settings.index / "CURRENT").exists(), "the cancelled ingest did not swap anything in"
        assert not list(settings.index.glob(".staging-*"))


def test_stale_upload_folders_are_swept_at_start_up(settings: Settings, tmp_path: Path) -> None:
    """A folder whose server was killed is removed; one whose lock a live server holds is kept."""
    parent = tmp_path / "uploads"
    dead, live = parent / "rag-upload-dead", parent / "rag-upload-live"
    for folder in (dead, live):
        (folder / "uploads").mkdir(parents=True)
        (folder / "uploads" / "a.txt").write_text("left behind")
    holder = try_lock(parent / "rag-upload-live.lock")
    try:
        with serving(settings, upload_dir=parent) as client:
            assert client.get("/health").status_code == 200
        assert upload_folders(parent) == [live]
    finally:
        assert holder is not None
        holder.close()


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_work_stops_when_the_client_goes_away(settings: Settings, tokenizer: Any, tmp_path: Path) -> None:
    parent, embedder = tmp_path / "uploads", HeldEmbedder(tokenizer)
    with serving(settings, allow_ingest=True, ingest_embedder=embedder, upload_dir=parent) as client:
        with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes the connection
            client.post("/ingest", files=planted_upload(), headers=WRITE, timeout=httpx.Timeout(30, read=1))
        wait_until(lambda: client.get("/stats").json()["lanes"]["ingest"]["stopped"] == 1)
        embedder.release.set()
        wait_until(lambda: client.get("/stats").json()["lanes"]["ingest"]["running"] == 0)
        assert upload_folders(parent) == []
    assert not (settings.index / "CURRENT").exists(), "the abandoned ingest was not swapped in"


# ------------------------------------------------------------------------------------ bad text


def test_text_that_is_not_unicode_is_a_json_error(settings: Settings, fake_embedder: Any) -> None:
    with serving(settings, allow_ingest=True, ingest_embedder=fake_embedder) as client:
        json_type = {"Content-Type": "application/json"}
        for path in ("/ask", "/ask/stream"):
            lone = client.post(path, content=b'{"question": "\\ud800 mayor"}', headers=json_type)
            assert lone.status_code == 422 and "not valid" in lone.json()["error"]
        assert client.get("/search", params={"q": "\ud800 mayor".encode("utf-8", "surrogatepass")}).status_code != 500
        statuses = {}
        for name in (b"nul\x00.txt", b"tab\t.txt", b"caf\xe9\xff.txt"):
            body = PART.replace(b'filename="big.txt"', b'filename="' + name + b'"') + b"Some text.\r\n--xyz--\r\n"
            headers = {**WRITE, "Content-Type": "multipart/form-data; boundary=xyz"}
            statuses[name] = client.post("/ingest", content=body, headers=headers)
    assert [r.status_code for r in statuses.values()][:2] == [422, 422]
    assert all("file name" in r.json()["error"] for r in list(statuses.values())[:2])
    latin = statuses[b"caf\xe9\xff.txt"]  # multipart names that are not UTF-8 are read as Latin-1
    assert latin.status_code == 200 and latin.json()["files"] == ["uploads/caf\xe9\xff.txt"]


# ------------------------------------------------------------------------------------ what answers show


def test_answers_show_no_server_paths(settings: Settings, fake_embedder: Any, corpus: Path, tmp_path: Path) -> None:
    from ingest.pipeline import Ingestor
    from rag.retrieval.retriever import IndexRetriever

    Ingestor(settings, embedder=fake_embedder).run([corpus], settings.index)
    pipeline = fake_pipeline(settings).with_parts(retriever=IndexRetriever(settings.index, fake_embedder, settings))
    with serving(settings, pipeline, allow_ingest=True, ingest_embedder=fake_embedder) as client:
        assert client.post("/ingest", files=planted_upload(), headers=WRITE).status_code == 200
        assert client.get("/documents/sub/gamma.html").json()["source"] == "sub/gamma.html"
        assert client.get("/documents/uploads/planted.txt").json()["source"] == "uploads/planted.txt"
        stats = client.get("/stats")
        assert stats.json()["index"]["name"] == "index"
        for response in (stats, client.get("/documents/sub/gamma.html"), client.get("/documents/uploads/planted.txt")):
            assert str(tmp_path) not in response.text and "/tmp" not in response.text


def test_the_api_docs_load_nothing_from_outside(settings: Settings) -> None:
    with serving(settings) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "SwaggerUIBundle" in page.text
        assert "https://" not in page.text and "http://" not in page.text
        assets = re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
        assert len(assets) >= 3 and all(client.get(asset).status_code == 200 for asset in assets)
        assert client.get("/redoc").status_code == 404


# ------------------------------------------------------------------------------------------- shutdown

SERVER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
import uvicorn
from transformers import AutoTokenizer
from rag.config import Settings
from rag.fakes import HashingEmbedder, fake_pipeline
from rag.models import resolve_model
from rag.serve import create_app
import ingest.pipeline
ingest.pipeline.EMBED_BATCH_CHUNKS = 1

class Slow(HashingEmbedder):
    def encode(self, texts, progress=False):
        time.sleep(0.5)
        return super().encode(texts)

settings = Settings(index=Path({index!r}))
embedder = Slow(AutoTokenizer.from_pretrained(resolve_model("embedder", "all-MiniLM-L6-v2")))
app = create_app(settings, fake_pipeline(settings, delay_s=0.3), allow_ingest=True, ingest_embedder=embedder,
                 upload_dir=Path({uploads!r}))
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", timeout_graceful_shutdown=2)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stream_events(base: str) -> list[tuple[str, Any]]:
    with httpx.Client(base_url=base, timeout=60) as client:
        return sse(client.post("/ask/stream", json={"question": QUESTION}).text)


def test_shutdown_tells_streams_and_leaves_nothing_behind(settings: Settings, tmp_path: Path) -> None:
    """SIGTERM while one answer streams, another waits in the queue and an upload is being ingested: both
    streams end with an `error` event (503), and the upload's folder and staging are gone once it exits."""
    port, uploads = free_port(), tmp_path / "uploads"
    script = SERVER.format(repo=str(REPO), index=str(settings.index), uploads=str(uploads), port=port)
    server = subprocess.Popen([sys.executable, "-c", script])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: reachable(base), timeout=120)
        with ThreadPoolExecutor(3) as pool, httpx.Client(base_url=base, timeout=60) as client:
            notes = [(f"note{n}.txt", f"Note {n} about the coast.".encode(), "text/plain") for n in range(15)]
            upload = [("files", note) for note in notes]
            ingesting = pool.submit(client.post, "/ingest", files=upload, headers=WRITE)
            streams = [pool.submit(stream_events, base) for _ in range(2)]
            lanes = lambda: client.get("/stats").json()["lanes"]  # noqa: E731
            wait_until(lambda: lanes()["generation"]["waiting"] == 1 and lanes()["ingest"]["running"] == 1)
            server.send_signal(signal.SIGTERM)
            endings = [future.result()[-1] for future in streams]
            assert ingesting.result().status_code == 503 and "shutting down" in ingesting.result().json()["error"]
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)  # uvicorn ends by re-raising the signal
    finally:
        if server.poll() is None:
            server.kill()
    assert [(kind, data["status"]) for kind, data in endings] == [("error", 503), ("error", 503)]
    assert "shutting down" in endings[0][1]["error"]
    assert upload_folders(uploads) == [] and not list(uploads.glob("*.lock"))
    assert not (settings.index / "CURRENT").exists() and not list(settings.index.glob(".staging-*"))


def reachable(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
