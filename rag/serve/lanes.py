"""Bounded lanes for blocking work: a fixed thread pool plus a bounded number of waiting requests, then Busy.

Generation has one worker, so a model is never used by two requests at once. Every piece of work gets a stop
event: it is set when the request times out (RequestTimeout), when its client goes away, and when the server
shuts down, and the work stops at its next check. Work still queued then never starts. The lane counts the
work until it has really finished, whoever stopped waiting for it.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

Work = Callable[[threading.Event], Any]


class Busy(Exception):
    """A lane is full: the client should retry after `retry_after` seconds."""

    def __init__(self, lane: str, retry_after: int) -> None:
        super().__init__(f"the server is busy ({lane} queue full); retry in {retry_after} s")
        self.retry_after = retry_after


class RequestTimeout(Exception):
    """A request ran past its deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request took longer than {seconds:g} s")


class ShuttingDown(Exception):
    """The server is stopping: work that had not finished was stopped."""

    def __init__(self) -> None:
        super().__init__("the server is shutting down; retry in a moment")


class ClientGone(Exception):
    """The client disconnected before the answer was ready; its work was stopped."""

    def __init__(self) -> None:
        super().__init__("the client closed the connection")


@dataclass(frozen=True)
class Job:
    """Work on a lane: its future and its stop event."""

    future: Future[Any]
    stop: threading.Event

    def cancel(self) -> None:
        """Drop the work if it has not started, else ask it to stop at its next check."""
        self.future.cancel()
        self.stop.set()


class Lane:
    """Blocking work of one kind: `workers` threads and at most `waiting` queued requests, then Busy."""

    def __init__(self, name: str, workers: int, waiting: int) -> None:
        self.name, self.workers, self.waiting = name, workers, waiting
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix=f"rag-{name}")
        self._lock = threading.Lock()
        self._jobs: set[Job] = set()
        self.closing = False
        self.in_flight = self.running = self.completed = self.rejected = self.timeouts = self.stopped = 0
        self.mean_s = 0.0

    def full(self) -> bool:
        with self._lock:
            return self.in_flight >= self.workers + self.waiting

    def submit(self, fn: Work, after: Callable[[], None] | None = None) -> Job:
        """Queue `fn(stop)`. `after` runs once the work has finished or will never run (Busy included)."""
        with self._lock:
            refusal: Exception | None = None
            if self.closing:
                refusal = ShuttingDown()
            elif self.in_flight >= self.workers + self.waiting:
                self.rejected += 1
                refusal = Busy(self.name, self.retry_after())
            else:
                self.in_flight += 1
        if refusal is not None:
            if after is not None:
                after()
            raise refusal
        job = Job(self.executor.submit(self._timed, fn, stop := threading.Event(), after), stop)
        with self._lock:
            self._jobs.add(job)
        # work that ran cleans up before its future completes; work dropped from the queue, when it is dropped
        job.future.add_done_callback(lambda future: self._finished(job, after if future.cancelled() else None))
        return job

    async def run(
        self,
        timeout_s: float,
        fn: Work,
        after: Callable[[], None] | None = None,
        gone: Callable[[], Awaitable[Any]] | None = None,
    ) -> Any:
        """`fn(stop)` on the lane. Past `timeout_s` RequestTimeout; once `gone()` returns (the client has
        disconnected) ClientGone; when the server cancels the request (shutting down) ShuttingDown, so the
        client gets a 503. Whenever this returns or raises, the work is finished or told to stop."""
        job = self.submit(fn, after)
        waiting = asyncio.wrap_future(job.future)
        watcher = asyncio.ensure_future(gone()) if gone is not None else None
        try:
            awaited = [waiting] if watcher is None else [waiting, watcher]
            done, _ = await asyncio.wait(awaited, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
            if waiting in done:
                return waiting.result()
            if watcher is not None and watcher in done:
                raise ClientGone()
            self.timed_out()
            raise RequestTimeout(timeout_s)
        except asyncio.CancelledError:
            raise ShuttingDown() from None
        finally:
            if not job.future.done():
                with self._lock:
                    self.stopped += 1
            job.cancel()
            waiting.cancel()  # its result no longer matters (nor is an exception it ends with logged)
            if watcher is not None:
                watcher.cancel()

    def timed_out(self) -> None:
        with self._lock:
            self.timeouts += 1

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead times the mean duration, 1 to 60."""
        return min(60, max(1, math.ceil(self.mean_s * (self.in_flight + 1) / self.workers)))

    def _timed(self, fn: Work, stop: threading.Event, after: Callable[[], None] | None) -> Any:
        with self._lock:
            self.running += 1
        started = time.perf_counter()
        try:
            return fn(stop)
        finally:
            if after is not None:
                after()
            with self._lock:
                self.running -= 1
                self.mean_s = 0.8 * self.mean_s + 0.2 * (time.perf_counter() - started)

    def _finished(self, job: Job, after: Callable[[], None] | None) -> None:
        with self._lock:
            self._jobs.discard(job)
            self.in_flight -= 1
            self.completed += 1
        if after is not None:
            after()

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
                "stopped": self.stopped,  # told to stop before it had finished: timeout, client gone, shutdown
                "mean_seconds": round(self.mean_s, 4),
            }

    def close(self, grace_s: float = 30.0) -> None:
        """Refuse new work, drop what is queued, tell what runs to stop, and wait up to `grace_s` for it to
        stop (and clean up after itself) before the process exits."""
        with self._lock:
            self.closing = True
            jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)
        wait([job.future for job in jobs], timeout=grace_s)
