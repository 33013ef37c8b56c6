"""The HTTP service assembled: `create_app(settings, pipeline)` for ASGI servers and tests, `serve(...)` behind
`rag serve`, and `serve_in_thread` for tests and benchmarks.

Models load once, at start-up. Blocking work runs on bounded lanes (rag.serve.lanes), so the event loop stays
responsive; the endpoints are in rag.serve.routes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from rag.config import Settings
from rag.errors import RagError
from rag.pipeline import Answerer, Pipeline
from rag.serve import chat, openai_api
from rag.serve.errors import add_error_handlers
from rag.serve.guard import Guard, is_loopback
from rag.serve.routes import STATIC, open_router, router
from rag.serve.service import ServeOptions, Service
from rag.serve.uploads import sweep_uploads, upload_parent

SWAGGER_ASSETS = "/docs/assets"


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
        await run_in_threadpool(sweep_uploads, upload_parent(options))
        await run_in_threadpool(answerer.warm_up)
        yield
        await run_in_threadpool(app.state.service.close)  # waits for stopped work; the loop keeps serving

    app = FastAPI(
        title="grounded-rag",
        version="0.1.0",
        lifespan=lifespan,
        description="Answers with verified citations, or says the corpus does not say.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = Service.create(settings, answerer, options, ingest_embedder)
    add_error_handlers(app)
    app.add_middleware(Guard, protected=[*router.routes, *chat.router.routes, *openai_api.router.routes])
    app.include_router(open_router)
    app.include_router(router)
    app.include_router(chat.router)
    app.include_router(openai_api.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_local_docs(app)
    return app


def add_local_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the assets of the swagger-ui-bundle package: no CDN, which a server without
    internet access could not reach and which would see every visit."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount(SWAGGER_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_ASSETS}/favicon-32x32.png",
        )


def check_exposure(host: str, api_key: str | None) -> None:
    if not api_key and not is_loopback(host):
        raise RagError(f"refusing to serve on {host} without an API key: pass --api-key, or bind to 127.0.0.1")


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    allow_ingest: bool = False,
    allowed_hosts: tuple[str, ...] = (),
    **options: Any,
) -> None:
    """Load the models, then serve until interrupted. Refuses a non-loopback host without an API key."""
    import uvicorn

    check_exposure(host, api_key)
    pipeline = Pipeline.from_settings(settings)
    pipeline.warm_up()  # a missing model is a one-line error here, before the port is bound
    served = ServeOptions(api_key=api_key, allow_ingest=allow_ingest, allowed_hosts=allowed_hosts, **options)
    app = create_app(settings, pipeline, served)
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
