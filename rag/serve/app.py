"""The HTTP service: a FastAPI app over one shared Pipeline, and the `serve` runner behind `rag serve`.

Endpoints: POST /ask, POST /ask/stream (server-sent events), GET /search, GET /documents/{doc_id},
GET /health, GET /stats, POST /ingest (off unless allowed), the web page at / and OpenAPI docs at /docs.

Models load once, at start-up. Blocking work runs on bounded lanes (a fixed thread pool plus a bounded
number of waiting requests; past it 429 with Retry-After), so the event loop stays responsive. Generation
has one worker: one generation at a time. A request past its deadline gets 504, but its work keeps the
lane until it has really finished, so a model is never used by two requests at once.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import ipaddress
import json
import logging
import math
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager, suppress
from copy import copy
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Security, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from rag.config import Settings
from rag.errors import InputError, RagError

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
MAX_K = 50
UPLOAD_TYPES = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl"})
UPLOAD_FOLDER = "uploads"
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class ServeOptions:
    """Limits and switches of the service (the model settings stay in `Settings`)."""

    api_key: str | None = None
    allow_ingest: bool = False
    timeout_s: float = 120.0
    generation_workers: int = 1
    generation_queue: int = 8
    search_workers: int = 4
    search_queue: int = 64
    ingest_timeout_s: float = 900.0
    max_upload_mb: float = 10.0
    max_upload_files: int = 20
    max_body_kb: int = 256
    reload_check_s: float = 2.0

    @property
    def max_ingest_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024 * self.max_upload_files) + 64 * 1024


class Busy(Exception):
    """A lane is full: the client should retry after `retry_after` seconds."""

    def __init__(self, lane: str, retry_after: int) -> None:
        super().__init__(f"the server is busy ({lane} queue full); retry in {retry_after} s")
        self.retry_after = retry_after


class RequestTimeout(Exception):
    """A request ran past its deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request took longer than {seconds:g} s")


# ---------------------------------------------------------------------------------------------- lanes


class Lane:
    """Blocking work of one kind: `workers` threads and at most `waiting` queued requests, then Busy."""

    def __init__(self, name: str, workers: int, waiting: int) -> None:
        self.name, self.workers, self.waiting = name, workers, waiting
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix=f"rag-{name}")
        self._lock = threading.Lock()
        self.in_flight = self.running = self.completed = self.rejected = self.timeouts = 0
        self.mean_s = 0.0

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Queue `fn(*args)`; the lane counts it until it has finished, whoever stopped waiting for it."""
        with self._lock:
            if self.in_flight >= self.workers + self.waiting:
                self.rejected += 1
                raise Busy(self.name, self.retry_after())
            self.in_flight += 1
        future = self.executor.submit(self._timed, fn, *args)
        future.add_done_callback(self._finished)
        return future

    async def run(self, timeout_s: float, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on the lane; RequestTimeout after `timeout_s` (queued work is then cancelled)."""
        future = self.submit(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except TimeoutError:
            self.timed_out()
            raise RequestTimeout(timeout_s) from None

    def timed_out(self) -> None:
        with self._lock:
            self.timeouts += 1

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead times the mean duration, 1 to 60."""
        return min(60, max(1, math.ceil(self.mean_s * (self.in_flight + 1) / self.workers)))

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            self.running += 1
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            with self._lock:
                self.running -= 1
                self.mean_s = 0.8 * self.mean_s + 0.2 * (time.perf_counter() - started)

    def _finished(self, _: Future[Any]) -> None:
        with self._lock:
            self.in_flight -= 1
            self.completed += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "workers": self.workers,
                "max_waiting": self.waiting,
                "running": self.running,
                "waiting": self.in_flight - self.running,
                "completed": self.completed,
                "rejected": self.rejected,
                "timeouts": self.timeouts,
                "mean_seconds": round(self.mean_s, 4),
            }

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


# ------------------------------------------------------------------------------------ pipeline holder

RELOADED = ("index", "retriever")


def _is_stale(pipeline: Any) -> bool:
    check = getattr(pipeline.index, "is_stale", None)
    return bool(check and check())


def reopened(pipeline: Any) -> Any:
    """A shallow copy sharing every loaded model, with the index and retriever reopened on the live generation."""
    fresh = copy(pipeline)
    for name in RELOADED:
        if isinstance(inspect.getattr_static(type(fresh), name, None), cached_property):
            fresh.__dict__.pop(name, None)
    for name in RELOADED:
        getattr(fresh, name, None)
    return fresh


class SerializedEmbedder:
    """An embedder shared by request threads, one `encode` at a time; everything else is delegated."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self._lock = threading.Lock()

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self.embedder.encode(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.embedder, name)


def serialize_models(pipeline: Any) -> None:
    """Put the loaded query embedder behind a lock (the generator already runs on a one-worker lane).
    Reopened copies share the wrapped embedder, and so the lock."""
    loaded = getattr(pipeline, "__dict__", {}).get("embedder")
    if loaded is not None and not isinstance(loaded, SerializedEmbedder):
        pipeline.__dict__["embedder"] = SerializedEmbedder(loaded)


class PipelineHolder:
    """The live pipeline. Once an ingest (here or by `rag ingest`) swaps in a newer index generation, it is
    replaced by a reopened copy; requests already running keep the pipeline they started with."""

    def __init__(self, pipeline: Any, check_every_s: float) -> None:
        self.pipeline = pipeline
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._checked = time.monotonic()

    def current(self) -> Any:
        """The pipeline to use now (blocking: call it from a worker thread)."""
        if time.monotonic() - self._checked >= self.check_every_s:
            self.refresh()
        return self.pipeline

    def refresh(self) -> bool:
        """Reopen the index if it is stale; True when it was."""
        with self._lock:
            self._checked = time.monotonic()
            if not _is_stale(self.pipeline):
                return False
            self.pipeline = reopened(self.pipeline)
            log.info("reopened the index on its new generation")
            return True


# ------------------------------------------------------------------------------------------ service


@dataclass
class Service:
    """Everything the endpoints share: settings, options, the pipeline holder and the lanes."""

    settings: Settings
    options: ServeOptions
    holder: PipelineHolder
    generation: Lane
    search: Lane
    ingest: Lane
    ingest_embedder: Any = None
    started: float = field(default_factory=time.time)
    last_ingest: dict[str, Any] | None = None

    @classmethod
    def create(cls, settings: Settings, pipeline: Any, options: ServeOptions, ingest_embedder: Any = None) -> Service:
        return cls(
            settings=settings,
            options=options,
            holder=PipelineHolder(pipeline, options.reload_check_s),
            generation=Lane("generation", options.generation_workers, options.generation_queue),
            search=Lane("search", options.search_workers, options.search_queue),
            ingest=Lane("ingest", 1, 0),
            ingest_embedder=ingest_embedder,
        )

    @cached_property
    def ingestor(self) -> Any:
        """The uploads' Ingestor, with an embedder of its own (loaded at the first upload) unless one was
        given: chunking uses its tokenizer, which must not be shared with the query threads."""
        from ingest.pipeline import Ingestor

        return Ingestor(self.settings, embedder=self.ingest_embedder)

    def lanes(self) -> list[Lane]:
        return [self.generation, self.search, self.ingest]

    def close(self) -> None:
        for lane in self.lanes():
            lane.close()


def service_of(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(service_of)]
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="required when the server has a key")


def require_key(request: Request, key: Annotated[str | None, Security(API_KEY_HEADER)] = None) -> None:
    expected = service_of(request).options.api_key
    if expected and not (key and hmac.compare_digest(key.encode(), expected.encode())):
        raise HTTPException(401, "missing or wrong API key (send it in the X-API-Key header)")


# ------------------------------------------------------------------------------------------- errors


def describe(error: BaseException) -> tuple[int, str]:
    """HTTP status and one-line message for an error; unexpected ones are logged with their traceback."""
    if isinstance(error, InputError):
        return 422, str(error)
    if isinstance(error, RagError):
        return 400, str(error)
    if isinstance(error, Busy):
        return 429, str(error)
    if isinstance(error, RequestTimeout):
        return 504, str(error)
    log.error("unexpected error", exc_info=error)
    return 500, "internal error (logged on the server)"


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def on_error(request: Request, error: Exception) -> JSONResponse:
    status, message = describe(error)
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, Busy) else None
    return error_response(status, message, headers)


async def on_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    return error_response(error.status_code, str(error.detail), getattr(error, "headers", None))


async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
    return error_response(422, "; ".join(problems) or "invalid request")


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_invalid)  # type: ignore[arg-type]
    for kind in (RagError, Busy, RequestTimeout, Exception):
        app.add_exception_handler(kind, on_error)


class BodyLimit:
    """Refuse (413) a request whose declared body is larger than its path allows, before reading it."""

    def __init__(self, app: ASGIApp, options: ServeOptions) -> None:
        self.app = app
        self.options = options

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = dict(scope["headers"]).get(b"content-length", b"0")
            limit = self.options.max_ingest_bytes if scope["path"] == "/ingest" else self.options.max_body_kb * 1024
            if declared.isdigit() and int(declared) > limit:
                await error_response(413, f"request body larger than {limit} bytes")(scope, receive, send)
                return
        await self.app(scope, receive, send)


# ------------------------------------------------------------------------------------------ requests


class AskBody(BaseModel):
    """A question, and optionally how many passages to use and the answer policy."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="the question (limit: setting max_question_chars)")
    k: int | None = Field(None, ge=1, le=MAX_K, description="passages to retrieve")
    policy: str | None = Field(None, description="annotate | filter | strict")


def checked_question(text: str, settings: Settings) -> str:
    """The question stripped; 413 when it is over the limit, 422 when empty."""
    text = text.strip()
    if len(text) > settings.max_question_chars:
        raise HTTPException(413, f"the question has {len(text)} characters; the limit is {settings.max_question_chars}")
    if not text:
        raise InputError("the question is empty")
    return text


def passages_json(passages: list[Any]) -> list[dict[str, Any]]:
    return [p.to_dict(n) for n, p in enumerate(passages, start=1)]


def event(kind: str, payload: Any) -> dict[str, str]:
    """One server-sent event: passages, token, answer or error."""
    if kind == "passages":
        data: Any = {"passages": passages_json(payload)}
    elif kind == "token":
        data = {"text": payload}
    elif kind == "answer":
        data = payload.to_dict()
    else:
        status, message = describe(payload)
        data = {"error": message, "status": status}
    return {"event": kind, "data": json.dumps(data, ensure_ascii=False)}


class EventStream:
    """Runs a pipeline's event iterator on a lane and hands its events to the response as they come.

    Created in the endpoint, so a full lane is a 429 before the stream starts. The deadline covers the
    whole stream; past it (or when the client goes) the producer stops at its next event.
    """

    def __init__(self, lane: Lane, make_events: Callable[[], Iterator[tuple[str, Any]]], timeout_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.stop = threading.Event()
        self.lane, self.timeout_s = lane, timeout_s
        self.deadline = self.loop.time() + timeout_s
        lane.submit(self._produce, make_events)

    def _produce(self, make_events: Callable[[], Iterator[tuple[str, Any]]]) -> None:
        events: Iterator[tuple[str, Any]] = iter(())
        try:
            events = make_events()
            for item in events:
                if self.stop.is_set():
                    break
                self._emit(item)
        except Exception as error:
            self._emit(("error", error))
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
            self._emit(("end", None))

    def _emit(self, item: tuple[str, Any]) -> None:
        with suppress(RuntimeError):  # the loop is gone: nobody is listening any more
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    async def events(self) -> AsyncIterator[dict[str, str]]:
        try:
            while True:
                kind, payload = await asyncio.wait_for(self.queue.get(), max(0.0, self.deadline - self.loop.time()))
                if kind == "end":
                    return
                yield event(kind, payload)
                if kind == "error":
                    return
        except TimeoutError:
            self.lane.timed_out()
            yield event("error", RequestTimeout(self.timeout_s))
        finally:
            self.stop.set()


# ------------------------------------------------------------------------------------------- uploads


def upload_name(filename: str | None) -> str:
    """The bare file name of an upload; 415 for a type that cannot be ingested, 422 for a bad name."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    if not name or name.startswith("."):
        raise InputError(f"bad upload file name {filename!r}")
    if PurePosixPath(name).suffix.lower() not in UPLOAD_TYPES:
        raise HTTPException(415, f"{name}: only {', '.join(sorted(UPLOAD_TYPES))} files can be ingested")
    return name


async def save_uploads(files: list[UploadFile], folder: Path, options: ServeOptions) -> list[str]:
    """Write the uploads into `folder`, enforcing the count, type and size limits; returns their names."""
    if not files:
        raise InputError("no files uploaded (send multipart field 'files')")
    if len(files) > options.max_upload_files:
        raise HTTPException(413, f"{len(files)} files uploaded; the limit is {options.max_upload_files}")
    names = [upload_name(f.filename) for f in files]
    if len(set(names)) != len(names):
        raise InputError("two uploads have the same file name")
    limit = int(options.max_upload_mb * 1024 * 1024)
    for upload, name in zip(files, names, strict=True):
        await _save_one(upload, folder / name, limit)
    return names


async def _save_one(upload: UploadFile, target: Path, limit: int) -> None:
    size = 0
    with target.open("wb") as out:
        while piece := await upload.read(1 << 16):
            size += len(piece)
            if size > limit:
                raise HTTPException(413, f"{target.name} is larger than {limit // (1024 * 1024)} MB")
            out.write(piece)


def ingest_folder(service: Service, temporary: Path) -> dict[str, Any]:
    """Ingest the uploaded folder (no pruning) into the live index aside, swap, reopen; then delete it."""
    try:
        report = service.ingestor.run([temporary], service.settings.index).to_dict()
        service.holder.refresh()
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    for skipped in report["skipped"]:
        skipped["path"] = Path(skipped["path"]).name
    return report


# ------------------------------------------------------------------------------------------ endpoints

router = APIRouter(dependencies=[Depends(require_key)])
open_router = APIRouter()


@router.post("/ask", summary="Answer a question with verified citations (Answer.to_dict())")
async def ask(body: AskBody, service: ServiceDep) -> dict[str, Any]:
    question = checked_question(body.question, service.settings)

    def work() -> dict[str, Any]:
        return service.holder.current().ask(question, k=body.k, policy=body.policy).to_dict()

    return await service.generation.run(service.options.timeout_s, work)


@router.post(
    "/ask/stream",
    summary="Answer as server-sent events: passages, token..., answer (or error)",
    response_class=EventSourceResponse,
)
async def ask_stream(body: AskBody, service: ServiceDep) -> EventSourceResponse:
    question = checked_question(body.question, service.settings)

    def events() -> Iterator[tuple[str, Any]]:
        return service.holder.current().ask_stream(question, k=body.k, policy=body.policy)

    stream = EventStream(service.generation, events, service.options.timeout_s)
    return EventSourceResponse(stream.events(), ping=15)


@router.get("/search", summary="Retrieve passages without generating")
async def search(
    service: ServiceDep,
    q: Annotated[str, Query(description="search text")],
    k: Annotated[int | None, Query(ge=1, le=MAX_K)] = None,
    mode: Annotated[str | None, Query(description="dense | bm25 | hybrid")] = None,
) -> dict[str, Any]:
    query = checked_question(q, service.settings)

    def work() -> list[dict[str, Any]]:
        return passages_json(service.holder.current().search(query, k=k, mode=mode))

    passages = await service.search.run(service.options.timeout_s, work)
    return {
        "query": query,
        "k": k or service.settings.top_k,
        "mode": mode or service.settings.retrieval_mode,
        "passages": passages,
    }


@router.get("/documents/{doc_id:path}", summary="A source document's full text, to show a quote in context")
async def document(doc_id: str, service: ServiceDep) -> dict[str, Any]:
    found = await run_in_threadpool(lambda: service.holder.current().index.store.document(doc_id))
    if found is None:
        raise HTTPException(404, f"no document {doc_id!r} in the index")
    return found


@router.get("/stats", summary="Index size, models, queues and the last ingest")
async def stats(service: ServiceDep) -> dict[str, Any]:
    return await run_in_threadpool(_stats, service)


def _stats(service: Service) -> dict[str, Any]:
    index = service.holder.current().index
    manifest = index.manifest
    s = service.settings
    return {
        "index": {
            "path": str(s.index),
            "generation": Path(str(getattr(index, "generation", ""))).name or None,
            **index.store.counts(),
            "manifest": asdict(manifest) if is_dataclass(manifest) else dict(manifest),
        },
        "models": {
            "embedder": s.embedder,
            "backend": s.backend,
            "model": s.model,
            "scorer": s.scorer,
            "reranker": s.reranker,
        },
        "defaults": {
            "top_k": s.top_k,
            "retrieval_mode": s.retrieval_mode,
            "policy": s.policy,
            "max_question_chars": s.max_question_chars,
        },
        "lanes": {lane.name: lane.stats() for lane in service.lanes()},
        "ingest": {"enabled": service.options.allow_ingest, "last": service.last_ingest},
        "uptime_s": round(time.time() - service.started, 1),
    }


@router.post("/ingest", summary="Upload documents (txt, md, html, pdf, jsonl) into the index (when enabled)")
async def ingest(files: list[UploadFile], service: ServiceDep) -> dict[str, Any]:
    if not service.options.allow_ingest:
        raise HTTPException(403, "ingestion over HTTP is off; start the server with --allow-ingest")
    temporary = Path(tempfile.mkdtemp(prefix="rag-upload-"))
    try:
        (temporary / UPLOAD_FOLDER).mkdir()
        names = await save_uploads(files, temporary / UPLOAD_FOLDER, service.options)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    report = await service.ingest.run(service.options.ingest_timeout_s, ingest_folder, service, temporary)
    service.last_ingest = {**report, "files": names, "at": time.time()}
    return {"files": [f"{UPLOAD_FOLDER}/{n}" for n in names], "report": report}


@open_router.get("/health", summary="Liveness: the models are loaded and the service answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@open_router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


# ---------------------------------------------------------------------------------------------- app


def create_app(
    settings: Settings,
    pipeline: Any = None,
    options: ServeOptions | None = None,
    ingest_embedder: Any = None,
    **overrides: Any,
) -> FastAPI:
    """The service over `pipeline` (a Pipeline built from `settings` when None; any duck-typed object
    with ask/ask_stream/search/warm_up/index works). `overrides` replace fields of `options`;
    `ingest_embedder` replaces the embedder that uploads are ingested with (tests)."""
    if pipeline is None:
        from rag.pipeline import Pipeline

        pipeline = Pipeline.from_settings(settings)
    options = replace(options or ServeOptions(), **overrides)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(pipeline.warm_up)
        serialize_models(pipeline)
        yield
        app.state.service.close()

    app = FastAPI(
        title="grounded-rag",
        version="0.1.0",
        lifespan=lifespan,
        description="Answers with verified citations, or says the corpus does not say.",
    )
    app.state.service = Service.create(settings, pipeline, options, ingest_embedder)
    add_error_handlers(app)
    app.add_middleware(BodyLimit, options=options)
    app.include_router(open_router)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


# --------------------------------------------------------------------------------------------- serve


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, api_key: str | None) -> None:
    if not api_key and not is_loopback(host):
        raise RagError(f"refusing to serve on {host} without an API key: pass --api-key, or bind to 127.0.0.1")


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    allow_ingest: bool = False,
    **options: Any,
) -> None:
    """Load the models, then serve until interrupted. Refuses a non-loopback host without an API key."""
    import uvicorn

    from rag.pipeline import Pipeline

    check_exposure(host, api_key)
    pipeline = Pipeline.from_settings(settings)
    pipeline.warm_up()  # a missing model is a one-line error here, before the port is bound
    app = create_app(settings, pipeline, ServeOptions(api_key=api_key, allow_ingest=allow_ingest, **options))
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=10)


@contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run `app` with uvicorn in a background thread (tests, benchmarks); yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="rag-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
