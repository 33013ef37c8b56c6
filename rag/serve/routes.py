"""The endpoints: POST /ask, POST /ask/stream, GET /search, GET /documents/{doc_id}, GET /stats, POST /ingest
(behind the API key when the server has one), GET /health and the page at / (open)."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from rag.config import PolicyName, RetrievalMode
from rag.index.filters import as_where
from rag.pipeline import validate_question
from rag.serve.service import Service, ServiceDep, require_key
from rag.serve.streaming import EventStream, passages_json
from rag.serve.uploads import UPLOAD_FOLDER, ingest_folder, save_uploads

STATIC = Path(__file__).resolve().parent / "static"
MAX_K = 50
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(dependencies=[Depends(require_key)])
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


@router.post("/ask", summary="Answer a question with verified citations (Answer.to_dict())")
async def ask(body: AskBody, service: ServiceDep) -> dict[str, Any]:
    question = checked(body.question, service)
    where = as_where(body.where)

    def work() -> dict[str, Any]:
        return service.holder.current().ask(question, k=body.k, policy=body.policy, where=where).to_dict()

    return await service.generation.run(service.options.timeout_s, work)


@router.post(
    "/ask/stream",
    summary="Answer as server-sent events: passages, token..., answer (or error)",
    response_class=EventSourceResponse,
)
async def ask_stream(body: AskBody, service: ServiceDep) -> EventSourceResponse:
    question = checked(body.question, service)
    where = as_where(body.where)

    def events() -> Iterator[tuple[str, Any]]:
        return service.holder.current().ask_stream(question, k=body.k, policy=body.policy, where=where)

    stream = EventStream(service.generation, events, service.options.timeout_s)
    return EventSourceResponse(stream.events(), ping=15)


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

    def work() -> list[dict[str, Any]]:
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


def _stats(service: Service) -> dict[str, Any]:
    s = service.settings
    return {
        "index": {"path": str(s.index), **service.holder.current().index_stats()},
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
