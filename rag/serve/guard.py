"""The gate every request passes before its body is read, in this order: the Host header names this server (DNS
rebinding), an Origin header is this server's (cross-origin use), a write is a non-simple request (CSRF: a JSON
body or a custom header, which a cross-site form or no-cors fetch cannot send), the API key, whether the route is
on and has room, then the body's declared and running size (413, chunked bodies too).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.serve.errors import error_response
from rag.serve.lanes import Busy

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CUSTOM_HEADERS = ("x-requested-with", "x-api-key")  # a browser sends these cross-site only after a CORS preflight
INGEST_PATH = "/ingest"


class Refused(HTTPException):
    """A request the gate turns away, with its status and one-line reason."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def key_matches(expected: str | None, given: str | None) -> bool:
    return not expected or (given is not None and hmac.compare_digest(given.encode(), expected.encode()))


def given_key(headers: Headers) -> str | None:
    """The API key a request sends: X-API-Key, or Authorization: Bearer KEY (what OpenAI clients send)."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return headers.get("x-api-key") or (credentials.strip() if scheme.lower() == "bearer" else None)


def check_host(host: str, server: tuple[str, int] | None, allowed: Sequence[str]) -> None:
    """On a loopback address, only loopback names reach the service: a page on a domain that its owner points at
    127.0.0.1 is same-origin to the browser, but its requests still carry that domain in Host. Elsewhere the API
    key, which is then required, protects the service."""
    if server is None or not is_loopback(str(server[0])):
        return
    try:
        name = urlsplit(f"//{host}").hostname or ""
    except ValueError:
        name = ""
    if not (is_loopback(name) or name in allowed):
        raise Refused(421, f"Host {host!r} is not this server's address; use http://127.0.0.1 or --allowed-host NAME")


def check_origin(origin: str | None, host: str) -> None:
    if origin is None:
        return
    if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
        raise Refused(403, f"cross-origin request refused (Origin {origin!r} is not this server)")


def check_not_simple(method: str, headers: Headers) -> None:
    """A write must be a request no cross-site form or no-cors fetch can send."""
    if method in SAFE_METHODS:
        return
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not any(name in headers for name in CUSTOM_HEADERS):
        raise Refused(
            403,
            "cross-site request refused: send Content-Type: application/json, or an X-Requested-With or X-API-Key "
            "header",
        )


class BodyTooLarge(Refused):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class Guard:
    """ASGI middleware: every check that can refuse a request runs before the app reads a byte of its body.

    `protected` are the routes behind the API key; the service (`scope["app"].state.service`) gives the
    options and the ingest lane.
    """

    def __init__(self, app: ASGIApp, protected: Sequence[BaseRoute]) -> None:
        self.app = app
        self.protected = protected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            limit = self.judge(scope)
            await self.app(scope, limited(receive, limit), sending)
        except Refused as refusal:
            if started:
                return
            headers = getattr(refusal, "headers", None)
            await error_response(refusal.status_code, str(refusal.detail), headers)(scope, receive, send)

    def judge(self, scope: Scope) -> int:
        """Refuse the request (Refused) or return how many body bytes it may send."""
        service: Any = scope["app"].state.service
        options = service.options
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        check_host(host, scope.get("server"), options.allowed_hosts)
        check_origin(headers.get("origin"), host)
        check_not_simple(scope["method"], headers)
        if self.is_protected(scope) and not key_matches(options.api_key, given_key(headers)):
            raise Refused(
                401, "missing or wrong API key (send it in the X-API-Key header, or as Authorization: Bearer)"
            )
        limit = options.max_body_kb * 1024
        if scope["path"] == INGEST_PATH and scope["method"] not in SAFE_METHODS:
            if not options.allow_ingest:
                raise Refused(403, "ingestion over HTTP is off; start the server with --allow-ingest")
            if service.ingest.full():
                busy = Busy("ingest", service.ingest.retry_after())
                raise Refused(429, str(busy), headers={"Retry-After": str(busy.retry_after)})
            limit = options.max_ingest_bytes
        declared = headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(limit)
        return limit

    def is_protected(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is not Match.NONE for route in self.protected)


def limited(receive: Receive, limit: int) -> Receive:
    """`receive` that counts the body's bytes as they come and raises BodyTooLarge (413) past `limit`."""
    received = 0

    async def counting() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return counting
