"""The HTTP service assembled: `create_app(settings, pipeline)` for ASGI servers and tests, `serve(...)` behind
`rag serve`, and `serve_in_thread` for tests and benchmarks.

Models load once, at start-up. Blocking work runs on bounded lanes (rag.serve.lanes), so the event loop stays
responsive; the endpoints are in rag.serve.routes.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from rag.config import Settings
from rag.errors import RagError
from rag.pipeline import Answerer, Pipeline
from rag.serve import chat, openai_api
from rag.serve.errors import add_error_handlers, error_response
from rag.serve.routes import STATIC, open_router, router
from rag.serve.service import ServeOptions, Service


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


def create_app(
    settings: Settings,
    pipeline: Answerer | None = None,
    options: ServeOptions | None = None,
    ingest_embedder: Any = None,
    **overrides: Any,
) -> FastAPI:
    """The service over `pipeline` (a Pipeline built from `settings` when None). `overrides` replace fields of
    `options`; `ingest_embedder` replaces the embedder that uploads are ingested with (tests)."""
    answerer: Answerer = pipeline if pipeline is not None else Pipeline.from_settings(settings)
    options = replace(options or ServeOptions(), **overrides)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(answerer.warm_up)
        yield
        app.state.service.close()

    app = FastAPI(
        title="grounded-rag",
        version="0.1.0",
        lifespan=lifespan,
        description="Answers with verified citations, or says the corpus does not say.",
    )
    app.state.service = Service.create(settings, answerer, options, ingest_embedder)
    add_error_handlers(app)
    app.add_middleware(BodyLimit, options=options)
    app.include_router(open_router)
    app.include_router(router)
    app.include_router(chat.router)
    app.include_router(openai_api.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


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
