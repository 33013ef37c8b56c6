"""What the endpoints share: the options, the live pipeline (reopened when an ingest swaps in a new index
generation), the lanes and the upload ingester."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from rag import registry
from rag.config import Settings
from rag.pipeline import Answerer
from rag.serve.lanes import Lane

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    """Limits and switches of the service (the model settings stay in `Settings`)."""

    api_key: str | None = None
    allow_ingest: bool = False
    allowed_hosts: tuple[str, ...] = ()  # Host names besides loopback ones a loopback server answers (a proxy's)
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
    upload_dir: Path | None = None  # where upload folders go; the system temp dir when None

    @property
    def max_ingest_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024 * self.max_upload_files) + 64 * 1024


class PipelineHolder:
    """The live pipeline. Once an ingest (here or by `rag ingest`) swaps in a newer index generation, it is
    replaced by a refreshed copy; requests already running keep the pipeline they started with."""

    def __init__(self, pipeline: Answerer, check_every_s: float) -> None:
        self.pipeline = pipeline
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._checked = time.monotonic()

    def current(self) -> Answerer:
        """The pipeline to use now (blocking: call it from a worker thread)."""
        if time.monotonic() - self._checked >= self.check_every_s:
            self.refresh()
        return self.pipeline

    def refresh(self) -> bool:
        """Reopen the index if it is stale; True when it was."""
        with self._lock:
            self._checked = time.monotonic()
            fresh = self.pipeline.refreshed()
            if fresh is self.pipeline:
                return False
            self.pipeline = fresh
            log.info("reopened the index on its new generation")
            return True


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
    def create(
        cls, settings: Settings, pipeline: Answerer, options: ServeOptions, ingest_embedder: Any = None
    ) -> Service:
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
    def ingester(self) -> Any:
        """The uploads' ingest engine (setting `engine`), with an embedder of its own (loaded at the first
        upload) unless one was given: chunking uses its tokenizer, which the query threads must not share."""
        return registry.create("engine", self.settings.engine, self.settings, embedder=self.ingest_embedder)

    def lanes(self) -> list[Lane]:
        return [self.generation, self.search, self.ingest]

    def close(self) -> None:
        for lane in self.lanes():
            lane.close()


def service_of(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(service_of)]
# Declares the key in the OpenAPI schema; rag.serve.guard checks it, before the body is read.
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="required when the server has a key")
