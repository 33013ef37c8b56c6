"""Server-sent events of an answer being made: `stage` as each stage starts, `passages`, then `token`s as
generated, then the verified `answer` (or an `error`); a conversation's stream opens with the `question` it asks.
The pipeline's event iterator runs on a lane and hands its events to the response."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import suppress
from typing import Any

import anyio

from rag.records import Passage
from rag.serve.errors import describe
from rag.serve.lanes import Lane, RequestTimeout, ShuttingDown

Events = Iterator[tuple[str, Any]]


def passages_json(passages: Sequence[Passage]) -> list[dict[str, Any]]:
    return [p.to_dict(n) for n, p in enumerate(passages, start=1)]


def event(kind: str, payload: Any) -> dict[str, str]:
    """One server-sent event: question (a conversation's standalone question), passages, token, answer or
    error."""
    if kind == "question":
        data: Any = payload
    elif kind == "passages":
        data = {"passages": passages_json(payload)}
    elif kind == "token":
        data = {"text": payload}
    elif kind == "stage":
        data = {"stage": payload}
    elif kind == "answer":
        data = payload.to_dict()
    else:
        status, message = describe(payload)
        data = {"error": message, "status": status}
    return {"event": kind, "data": json.dumps(data, ensure_ascii=False)}


def until_stopped(events: Events, stop: threading.Event) -> Events:
    """The events until `stop` is set; then the pipeline's iterator is closed, which ends its generation."""
    try:
        for item in events:
            if stop.is_set():
                return
            yield item
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


class EventStream:
    """Runs a pipeline's event iterator on a lane and hands its events to the response as they come.

    Created in the endpoint, so a full lane is a 429 before the stream starts. The deadline covers the
    whole stream; past it, when the client goes, or when the server shuts down (`shutdown`, set by
    sse-starlette) the producer stops at its next event. A shutdown ends the stream with an `error` event
    (503), whether the work was running or still queued.
    """

    def __init__(self, lane: Lane, make_events: Callable[[], Events], timeout_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.shutdown = anyio.Event()
        self.lane, self.timeout_s = lane, timeout_s
        self.deadline = self.loop.time() + timeout_s
        self.job = lane.submit(lambda stop: self._produce(make_events, stop))
        self.job.future.add_done_callback(self._dropped)

    def _dropped(self, future: Future[Any]) -> None:
        """Work dropped from the queue (the server is closing its lanes) never runs: say so."""
        if future.cancelled():
            self._emit(("error", ShuttingDown()))

    def _produce(self, make_events: Callable[[], Events], stop: threading.Event) -> None:
        try:
            for item in until_stopped(make_events(), stop):
                self._emit(item)
            if self.lane.closing:
                self._emit(("error", ShuttingDown()))
        except Exception as error:
            self._emit(("error", error))
        finally:
            self._emit(("end", None))

    def _emit(self, item: tuple[str, Any]) -> None:
        with suppress(RuntimeError):  # the loop is gone: nobody is listening any more
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    async def _on_shutdown(self) -> None:
        await self.shutdown.wait()
        self.queue.put_nowait(("error", ShuttingDown()))

    async def events(self) -> AsyncIterator[dict[str, str]]:
        watcher = asyncio.ensure_future(self._on_shutdown())
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
            watcher.cancel()
            self.job.cancel()
