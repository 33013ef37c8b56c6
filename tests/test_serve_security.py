"""What a hostile page or client can do to the HTTP service, tried on a real uvicorn server on loopback: cross-site
writes (CSRF), DNS rebinding, bodies judged before they are read, uploads left behind and what answers expose."""

from __future__ import annotations

import socket
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
