"""How errors become HTTP: a status and a one-line JSON `{"error": ...}`, never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    Cancelled,
    IndexDamagedError,
    IndexLockedError,
    IndexWriteError,
    InputError,
    QuestionTooLong,
    RagError,
)
from rag.serve.lanes import Busy, ClientGone, RequestTimeout, ShuttingDown

log = logging.getLogger(__name__)


def describe(error: BaseException) -> tuple[int, str]:
    """HTTP status and one-line message for an error; unexpected ones are logged with their traceback."""
    if isinstance(error, QuestionTooLong):
        return 413, str(error)
    if isinstance(error, InputError):
        return 422, str(error)
    if isinstance(error, IndexLockedError):
        return 409, str(error)
    if isinstance(error, IndexDamagedError | IndexWriteError):
        return 503, str(error)
    if isinstance(error, Cancelled):
        return 499, str(error)
    if isinstance(error, RagError):
        return 400, str(error)
    if isinstance(error, Busy):
        return 429, str(error)
    if isinstance(error, RequestTimeout):
        return 504, str(error)
    if isinstance(error, ShuttingDown):
        return 503, str(error)
    if isinstance(error, ClientGone):
        return 499, str(error)
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
    for kind in (RagError, Busy, RequestTimeout, ShuttingDown, ClientGone, Exception):
        app.add_exception_handler(kind, on_error)
