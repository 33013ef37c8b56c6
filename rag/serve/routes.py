"""The endpoints: POST /ask, POST /ask/stream, GET /search, GET /documents/{doc_id}, GET /stats, POST /ingest
(behind the API key when the server has one: rag.serve.guard checks it), GET /health and the page at / (open).

Work runs on the lanes with a stop event, set when the request times out or its client disconnects."""

from __future__ import annotations

import threading
import time
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Security, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from rag.config import PolicyName, RetrievalMode
from rag.index.filters import as_where
from rag.question import validate_question
from rag.records import Answer
from rag.serve.lanes import ClientGone, ShuttingDown
from rag.serve.service import API_KEY_HEADER, Service, ServiceDep
from rag.serve.streaming import Events, EventStream, passages_json, until_stopped
from rag.serve.uploads import UPLOAD_FOLDER, UploadFolder, ingest_folder, save_uploads, sweep_uploads, upload_parent

STATIC = Path(__file__).resolve().parent / "static"
MAX_K = 50
SHUTDOWN_GRACE_S = 2.0  # a stream cut by shutdown gets this long to send its error event
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(dependencies=[Security(API_KEY_HEADER)])
open_router = APIRouter()


class AskBody(BaseModel):
    """A question, and optionally how many passages to use and the answer policy."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="the question (limit: setting max_question_chars)")
    k: int | None = Field(None, ge=1, le=MAX_K, description="passages to retrieve")
    policy: PolicyName | None = Field(None, description="annotate | filter | strict")
    where: list[str] | None = Field(
        None, description='filters, all must hold: ["path=GLOB", "type=pdf,md", "page=3-7", "ingested>=2026-11-01"]'
    )


def checked(text: str, service: Service) -> str:
    """The question stripped; 413 when it is over the limit, 422 when empty (before any queueing)."""
    return validate_question(text, service.settings.max_question_chars)


async def disconnected(request: Request) -> None:
    """Returns once the client has closed the connection (its body has been read by then)."""
    while (await request.receive())["type"] != "http.disconnect":
        continue


def final_answer(events: Events) -> Answer | None:
    """The answer of an event stream; None when it was stopped first."""
    answer = None
    for kind, payload in events:
        if kind == "answer":
            answer = payload
    return answer


@router.post("/ask", summary="Answer a question with verified citations (Answer.to_dict())")
async def ask(body: AskBody, service: ServiceDep, request: Request) -> dict[str, Any]:
    question = checked(body.question, service)
    where = as_where(body.where)

    def work(stop: threading.Event) -> dict[str, Any]:
        events = service.holder.current().ask_stream(question, k=body.k, policy=body.policy, where=where)
        answer = final_answer(until_stopped(events, stop))
        if answer is None:  # stopped: whoever waited has gone, unless the server is closing
            raise ShuttingDown() if service.generation.closing else ClientGone()
        return answer.to_dict()

    return await service.generation.run(service.options.timeout_s, work, gone=partial(disconnected, request))


@router.post(
    "/ask/stream",
    summary="Answer as server-sent events: passages, token..., answer (or error)",
    response_class=EventSourceResponse,
)
async def ask_stream(body: AskBody, service: ServiceDep) -> EventSourceResponse:
    question = checked(body.question, service)
    where = as_where(body.where)

    def events() -> Events:
        return service.holder.current().ask_stream(question, k=body.k, policy=body.policy, where=where)

    stream = EventStream(service.generation, events, service.options.timeout_s)
    return EventSourceResponse(
        stream.events(), ping=15, shutdown_event=stream.shutdown, shutdown_grace_period=SHUTDOWN_GRACE_S
    )


@router.get("/search", summary="Retrieve passages without generating")
async def search(
    service: ServiceDep,
    q: Annotated[str, Query(description="search text")],
    k: Annotated[int | None, Query(ge=1, le=MAX_K)] = None,
    mode: Annotated[RetrievalMode | None, Query(description="dense | bm25 | hybrid")] = None,
    where: Annotated[list[str] | None, Query(description="filter, repeatable: path=GLOB, type=pdf, page=3-7")] = None,
) -> dict[str, Any]:
    query = checked(q, service)
    selected = as_where(where)

    def work(stop: threading.Event) -> list[dict[str, Any]]:
        return passages_json(service.holder.current().search(query, k=k, mode=mode, where=selected))

    passages = await service.search.run(service.options.timeout_s, work)
    return {
        "query": query,
        "k": k or service.settings.top_k,
        "mode": mode or service.settings.retrieval_mode,
        "where": selected.to_dict() if selected else None,
        "passages": passages,
    }


@router.get("/documents/{doc_id:path}", summary="A source document's full text, to show a quote in context")
async def document(doc_id: str, service: ServiceDep) -> dict[str, Any]:
    found = await run_in_threadpool(lambda: service.holder.current().document(doc_id))
    if found is None:
        raise HTTPException(404, f"no document {doc_id!r} in the index")
    return found


@router.get("/stats", summary="Index size, models, queues and the last ingest")
async def stats(service: ServiceDep) -> dict[str, Any]:
    return await run_in_threadpool(_stats, service)


def public_name(model: str | None) -> str | None:
    """A model's name as the service shows it: a local path only by its last part (how the server's disk is
    laid out is not the client's business)."""
    if model is None or not (model.startswith(("/", "~", ".")) or Path(model).exists()):
        return model
    return Path(model).name


def _stats(service: Service) -> dict[str, Any]:
    s = service.settings
    index = service.holder.current().index_stats()
    if "embedder" in index.get("manifest", {}):
        index["manifest"] = {**index["manifest"], "embedder": public_name(index["manifest"]["embedder"])}
    return {
        "index": {"name": s.index.name, **index},
        "models": {
            "embedder": public_name(s.embedder),
            "backend": s.backend,
            "model": public_name(s.model),
            "scorer": s.scorer,
            "reranker": public_name(s.reranker),
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


@router.post("/ingest", summary="Upload documents (the types `rag ingest` reads) into the index (when enabled)")
async def ingest(files: list[UploadFile], service: ServiceDep, request: Request) -> dict[str, Any]:
    parent = upload_parent(service.options)
    await run_in_threadpool(sweep_uploads, parent)
    with UploadFolder(parent) as folder:
        names = await save_uploads(files, folder.files, service.options)
        report = await service.ingest.run(
            service.options.ingest_timeout_s,
            partial(ingest_folder, service, folder.path),
            after=folder.handed_over(),
            gone=partial(disconnected, request),
        )
    service.last_ingest = {**report, "files": names, "at": time.time()}
    return {"files": [f"{UPLOAD_FOLDER}/{n}" for n in names], "report": report}


@open_router.get("/health", summary="Liveness: the models are loaded and the service answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@open_router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)
