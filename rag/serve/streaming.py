"""Server-sent events of an answer being made: `passages`, then `token`s as generated, then the verified
`answer` (or an `error`); a conversation's stream opens with the `question` it asks. The pipeline's event
iterator runs on a lane and hands its events to the response."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import suppress
from typing import Any

from rag.records import Passage
from rag.serve.errors import describe
from rag.serve.lanes import Lane, RequestTimeout


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
